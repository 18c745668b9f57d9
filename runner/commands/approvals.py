"""Approval commands: answer a paused tool call (approve, deny, deny with a message); list them."""

from __future__ import annotations

from typing import Literal

from actors.approvals import resolve
from events.approvals import ApprovalAnswered
from events.backend import Backend
from projections.approvals import APPROVALS, ApprovalView
from projections.queries import approvals as approval_queries
from projections.read import get_row, select_rows
from runner.errors import Conflict, InvalidInput, NotFound

MAX_MESSAGE = 2000
DECISIONS = ("approved", "denied")


class ApprovalCommands:
    def __init__(self, store: Backend) -> None:
        self.store = store

    async def get(self, approval_id: str) -> ApprovalView:
        row: ApprovalView | None = await get_row(self.store, APPROVALS, approval_id)
        if row is None:
            raise NotFound(
                f"no approval {approval_id!r}; list_pending_approvals shows the open ones"
            )
        return row

    async def pending(self, *, run_id: str | None = None, limit: int = 100) -> list[ApprovalView]:
        """Open requests, oldest first (optionally of one run)."""
        params: list[object]
        if run_id is None:
            query, params = approval_queries.PENDING, [limit]
        else:
            query, params = approval_queries.PENDING_OF_RUN, [run_id, limit]
        rows: list[ApprovalView] = await select_rows(self.store, APPROVALS, query, params)
        return rows

    async def recent(self, *, limit: int = 50) -> list[ApprovalView]:
        """Answered, timed-out and withdrawn requests, newest first."""
        rows: list[ApprovalView] = await select_rows(
            self.store,
            APPROVALS,
            approval_queries.RECENT,
            (limit,),
        )
        return rows

    async def for_run(self, run_id: str) -> list[ApprovalView]:
        rows: list[ApprovalView] = await select_rows(
            self.store, APPROVALS, approval_queries.OF_RUN, (run_id,)
        )
        return rows

    async def answer(
        self,
        approval_id: str,
        decision: Literal["approved", "denied"] | str,
        *,
        by: str,
        message: str = "",
    ) -> ApprovalView:
        """Approve or deny; ``Conflict`` when it was already answered, timed out or withdrawn."""
        if decision not in DECISIONS:
            raise InvalidInput("decision must be 'approved' or 'denied'", field="decision")
        message = (message or "").strip()
        if len(message) > MAX_MESSAGE:
            raise InvalidInput(
                f"message is {len(message)} characters; the limit is {MAX_MESSAGE}",
                field="message",
            )
        if message and decision == "approved":
            raise InvalidInput("a message goes with a denial only", field="message")
        row = await self.get(approval_id)
        if row.state != "pending":
            raise Conflict(f"approval {approval_id} is already {row.state.replace('_', ' ')}")
        ev = ApprovalAnswered(
            run_id=row.run_id,
            approval_id=approval_id,
            decision="approved" if decision == "approved" else "denied",
            by=by,
            message=message,
        )
        try:
            held = await resolve(
                self.store, row.run_id, approval_id, ev, actor=by, from_version=row.version
            )
        except LookupError:
            raise NotFound(f"no approval {approval_id!r}")
        if held is not ev:
            now = await self.get(approval_id)
            raise Conflict(f"approval {approval_id} is already {now.state.replace('_', ' ')}")
        return await self.get(approval_id)
