"""At start: runs that were waiting for an approval when their process stopped are asked again.

The Claude Code process holding the paused tool call dies with the service, and runs are started
with ``--no-session-persistence``, so there is no session to resume. Such a run is therefore
ended with ``RunCancelled`` ("the service stopped while it waited for approval"), its approval
``ApprovalWithdrawn`` (naming the new run), and — in the same atomic append — the same run is
requested again (``trigger=retry``, next attempt). The new run starts from the prompt and asks
again when the model reaches the tool: the person is asked once more, and nothing ran unapproved.
This runs before ``actors.recovery.recover``, which would otherwise mark the run crashed.
An assistant turn is only cancelled (nothing is re-requested): its conversation's next message
resumes the last recorded session.
"""

from __future__ import annotations

import logging

from actors.recovery import is_alive
from events.approvals import ApprovalWithdrawn
from events.backend import Backend
from events.envelope import AppendRequest, Meta
from events.errors import ConcurrencyError
from events.ids import derived_id, run_stream
from events.runs import RunCancelled, RunRequested
from projections.approvals import APPROVALS, ApprovalView
from projections.queries import approvals as approval_queries
from projections.read import get_row, select_rows
from projections.runs import RUNS, RunView

log = logging.getLogger(__name__)
STOPPED = "the service stopped while this run waited for approval"


async def requeue_waiting(store: Backend, me: str) -> list[tuple[str, str]]:
    """Re-request every run of a dead process with a pending approval: ``[(old, new)]``."""
    done: list[tuple[str, str]] = []
    pending: list[ApprovalView] = await select_rows(store, APPROVALS, approval_queries.ALL_PENDING)
    seen: set[str] = set()
    for a in pending:
        if a.run_id in seen:
            continue
        seen.add(a.run_id)
        run: RunView | None = await get_row(store, RUNS, a.run_id)
        if run is None or run.state not in ("claimed", "running"):
            continue
        claimer = run.claimer or ""
        if claimer != me and is_alive(claimer):
            continue
        # An assistant turn is not re-run on its own: the conversation's next message resumes
        # its last recorded session (a re-run would race the user's next message).
        turn = run.spec.assistant is not None
        new_id = None if turn else derived_id("run", "approval-restart", a.run_id)
        withdrawn = [
            ApprovalWithdrawn(
                run_id=a.run_id, approval_id=p.approval_id, reason=STOPPED, new_run_id=new_id
            )
            for p in pending
            if p.run_id == a.run_id
        ]
        meta = Meta(actor="recovery")
        why = (
            f"{STOPPED}; send the message again"
            if new_id is None
            else (f"{STOPPED}; requested again as {new_id}")
        )
        requests = [
            AppendRequest(
                stream=run_stream(a.run_id),
                events=(*withdrawn, RunCancelled(run_id=a.run_id, reason=why)),
                expected=await store.stream_version(run_stream(a.run_id)),
                meta=meta,
            )
        ]
        if new_id is not None:
            again = RunRequested(
                run_id=new_id,
                job_id=run.job_id,
                trigger="retry",
                spec=run.spec,
                scheduled_for=run.scheduled_for,
                attempt=run.attempt + 1,
                retry_of=run.retry_of or run.run_id,
                webhook_id=run.webhook_id,
                delivery_id=run.delivery_id,
            )
            requests.append(
                AppendRequest(
                    stream=run_stream(new_id), events=(again,), expected="no_stream", meta=meta
                )
            )
        try:
            await store.append_atomic(requests)
        except ConcurrencyError:
            continue  # another process handled it (or the run moved on)
        log.warning("run %s was waiting for approval; requested again as %s", a.run_id, new_id)
        done.append((a.run_id, new_id or ""))
    return done
