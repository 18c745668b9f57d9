"""Node events: what records that a run pinned to a node label has no node to run on.

A run pinned to a label (``RunSpec.node_label``) waits in the queue until a live node carrying
the label claims it. When a claimer finds that no live node carries the label, it appends
``RunAwaitingNode`` on the run's stream once (at the run's version, so of several claimers
exactly one records it): the wait is history and shows on the run, not a silent stall. The run
stays queued (bounded by ``max_queued_per_job``) and is claimed as soon as such a node's lease
appears.
"""

from __future__ import annotations

import msgspec


class RunAwaitingNode(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    run_id: str
    label: str
    detail: str = ""
    """What the claimer saw (the live nodes and their labels)."""


NodeEvent = RunAwaitingNode
