"""Every projection, in the order they fold (costs reads runs, runs reads jobs)."""

from __future__ import annotations

from projections.access import access_projection
from projections.approvals import approvals_projection
from projections.assistant import conversations_projection
from projections.base import Projection
from projections.costs import costs_projection
from projections.jobs import jobs_projection
from projections.nodes import nodes_projection
from projections.output import output_projection
from projections.projector import ViewProjector
from projections.runs import runs_projection
from projections.servers import servers_projection
from projections.sessions import sessions_projection
from projections.settings import settings_projection
from projections.webhooks import webhooks_projection

ALL_PROJECTIONS: tuple[Projection, ...] = (
    jobs_projection,
    runs_projection,
    output_projection,
    costs_projection,
    webhooks_projection,
    servers_projection,
    settings_projection,
    access_projection,
    sessions_projection,
    approvals_projection,
    conversations_projection,
    nodes_projection,
)


def make_projector() -> ViewProjector:
    """A projector keeping every view table in step with the log."""
    return ViewProjector(ALL_PROJECTIONS)
