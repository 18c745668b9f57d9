"""Erasing a run's output and webhook body on demand (retention does it by policy)."""

from __future__ import annotations

from typing import Any

from events.backend import Backend
from events.errors import ChainBrokenError, StoreError
from projections.runs import TERMINAL_STATES
from runner.errors import Conflict, InvalidInput, Unavailable
from runner.queries import Queries

FINISHED = TERMINAL_STATES


class ErasureCommands:
    def __init__(self, store: Backend, queries: Queries) -> None:
        self.store = store
        self.q = queries

    async def erase_run(self, run_id: str, *, by: str, reason: str) -> dict[str, Any]:
        """Erase a finished run's output (and the body of the webhook that started it)."""
        run = await self.q.run(run_id)  # NotFound names what a run id looks like
        reason = reason.strip()
        if not reason:
            raise InvalidInput("say why the output is erased (reason)", field="reason")
        if len(reason) > 500:
            raise InvalidInput("reason is at most 500 characters", field="reason")
        if run.state not in FINISHED:
            raise Conflict(
                f"run {run_id} is {run.state}: cancel it or wait until it finishes, then erase"
            )
        try:
            (rec,) = await self.store.erase_run(run_id, by=by, reason=reason)
        except ChainBrokenError as exc:
            raise Unavailable(str(exc)) from None
        except StoreError as exc:
            raise Conflict(str(exc)) from None
        positions = getattr(rec.event, "positions", ())
        return {"run_id": run_id, "erased_positions": list(positions), "event": rec.position}
