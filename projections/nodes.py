"""Live nodes (``v_nodes``): one row per held lease, with the node's name and labels.

Folded from the lease events: ``LeaseAcquired`` adds the row, ``LeaseReleased`` or
``LeaseExpired`` removes it. A node killed without a release stays here until a live process
expires its lease (``actors/leases.py``: within the lease's TTL plus one sweep).
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from events.envelope import Recorded
from events.leases import LeaseAcquired, LeaseExpired, LeaseReleased
from projections.base import Change, Table, View, simple_projection


class NodeView(msgspec.Struct, frozen=True, kw_only=True):
    lease: str
    """The lease stream (``lease-<instance>:<start µs>``), the row's key."""
    instance: str
    """The process (``host:pid``) holding the lease."""
    node: str
    labels: tuple[str, ...] = ()
    host: str = ""
    started_at: float = 0.0


NODES = Table(name="v_nodes", row_type=NodeView)


def _handle(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    if isinstance(ev, LeaseAcquired):
        node = NodeView(lease=rec.stream, instance=ev.instance, node=ev.node or ev.host,
                        labels=tuple(ev.labels), host=ev.host,
                        started_at=ev.started_at)  # fmt: skip
        yield (NODES.name, rec.stream, node)
    elif view.get(NODES.name, rec.stream) is not None:
        yield (NODES.name, rec.stream, None)


def carrying(nodes: Iterable[NodeView], label: str) -> list[NodeView]:
    """The live nodes that carry ``label``."""
    return [n for n in nodes if label in n.labels]


def describe(nodes: Iterable[NodeView]) -> str:
    """``a [gpu, eu], b [-]``: the live nodes and their labels, for messages."""
    parts = [f"{n.node} [{', '.join(n.labels) or '-'}]" for n in nodes]
    return ", ".join(sorted(set(parts))) or "none"


nodes_projection = simple_projection(
    "nodes", (NODES,), {t: _handle for t in (LeaseAcquired, LeaseReleased, LeaseExpired)}
)
