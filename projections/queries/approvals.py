"""Reads of the approvals view (``v_approvals``)."""

from __future__ import annotations

from events.views import Query

PENDING = Query(
    "approvals.pending",
    "SELECT doc FROM v_approvals WHERE state = 'pending' ORDER BY requested_at LIMIT ?",
)
PENDING_OF_RUN = Query(
    "approvals.pending_of_run",
    "SELECT doc FROM v_approvals WHERE state = 'pending' AND run_id = ? "
    "ORDER BY requested_at LIMIT ?",
)
ALL_PENDING = Query(
    "approvals.all_pending",
    "SELECT doc FROM v_approvals WHERE state = 'pending' ORDER BY requested_at",
)
RECENT = Query(
    "approvals.recent",
    "SELECT doc FROM v_approvals WHERE state != 'pending' ORDER BY requested_at DESC LIMIT ?",
)
OF_RUN = Query(
    "approvals.of_run", "SELECT doc FROM v_approvals WHERE run_id = ? ORDER BY requested_at"
)
