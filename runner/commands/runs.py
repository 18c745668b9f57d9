"""Run commands: request a run (manual, quick, scheduled, webhook), request its cancellation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from actors.specs import resolve_spec
from events.backend import Backend
from events.envelope import ExpectedVersion, Meta
from events.errors import ConcurrencyError
from events.ids import new_id, run_stream
from events.runs import RunCancelled, RunCancelRequested, RunRequested, RunSpec, Trigger
from projections import TERMINAL_STATES, RunView
from runner.approvals_input import APPROVAL_FIELDS
from runner.errors import Conflict, InvalidInput
from runner.jobs_input import MAX_PROMPT, build_spec, validate_tools
from runner.queries import Queries


class RunCommands:
    def __init__(self, store: Backend, queries: Queries) -> None:
        self.store = store
        self.q = queries

    async def request_job(
        self, job_id: str, *, trigger: Trigger = "manual", actor: str = "user"
    ) -> RunView:
        """Run a job now (also when it is paused: a manual run is an explicit wish)."""
        job = await self.q.job(job_id)
        spec = resolve_spec(job, await self.q.settings())
        return await self.request(
            RunRequested(run_id=new_id("run"), job_id=job_id, trigger=trigger, spec=spec),
            actor=actor,
        )

    async def quick(
        self,
        prompt: str,
        *,
        tools: Sequence[str] = (),
        mcp_servers: Sequence[str] = (),
        model: str | None = None,
        timeout_seconds: float | None = None,
        max_turns: int | None = None,
        budget_usd: float | None = None,
        actor: str = "user",
        trigger: Trigger = "quick",
        approvals: Mapping[str, Any] | None = None,
        node_label: str | None = None,
    ) -> tuple[RunView, list[str]]:
        """Run an ad-hoc prompt now with the given tools and servers; ``approvals`` holds the
        optional ``ask_first`` settings (``runner.approvals_input.APPROVAL_FIELDS``); ``node_label``
        pins the run to the nodes carrying that label."""
        if not prompt.strip():
            raise InvalidInput("prompt must not be empty", field="prompt")
        if len(prompt) > MAX_PROMPT:
            raise InvalidInput(f"prompt is longer than {MAX_PROMPT} characters", field="prompt")
        # Reuse the job validation for every limit.
        checked = build_spec(
            {
                "name": "quick run",
                "prompt": prompt,
                "tools": list(tools),
                "mcp_servers": list(mcp_servers),
                "model": model,
                "timeout_seconds": timeout_seconds,
                "max_turns": max_turns,
                "budget_usd": budget_usd,
                "node_label": node_label,
                **{k: v for k, v in (approvals or {}).items() if k in APPROVAL_FIELDS},
            }
        )
        settings = await self.q.settings()
        tools_t, servers_t, warnings = validate_tools(
            checked.tools,
            checked.mcp_servers,
            allowed_builtins=settings.allowed_builtin_tools,
            known_servers=await self.q.known_servers(),
            server_tools=await self.q.server_tools(),
        )
        spec = RunSpec(
            prompt=prompt,
            model=checked.model or settings.default_model,
            tools=tools_t,
            mcp_servers=servers_t,
            timeout_seconds=checked.timeout_seconds or settings.default_timeout_seconds,
            max_turns=checked.max_turns,
            budget_usd=checked.budget_usd
            if checked.budget_usd is not None
            else settings.default_budget_usd,
            ask_first=checked.ask_first,
            ask_first_writes=checked.ask_first_writes,
            approval_timeout_seconds=checked.approval_timeout_seconds,
            approval_on_timeout=checked.approval_on_timeout,
            node_label=checked.node_label,
        )
        run = await self.request(
            RunRequested(run_id=new_id("run"), job_id=None, trigger=trigger, spec=spec),
            actor=actor,
        )
        return run, warnings

    async def request(self, event: RunRequested, *, actor: str = "system") -> RunView:
        """Append ``RunRequested`` on a new stream; an existing run id is a ``Conflict``."""
        try:
            await self.store.append(
                run_stream(event.run_id), [event], expected="no_stream", meta=Meta(actor=actor)
            )
        except ConcurrencyError:
            raise Conflict(f"run {event.run_id} was already requested")
        return await self.q.run(event.run_id)

    async def cancel(self, run_id: str, *, actor: str = "user", reason: str = "") -> RunView:
        """Cancel a run: a queued run never starts; a running one is stopped by its executor."""
        for _ in range(5):
            run = await self.q.run(run_id)
            if run.state in TERMINAL_STATES:
                raise Conflict(f"run {run_id} already finished (state: {run.state})")
            why = reason or f"cancelled by {actor}"
            events: list[RunCancelRequested | RunCancelled] = [
                RunCancelRequested(run_id=run_id, by=actor, reason=why)
            ]
            if run.state == "requested":
                events.append(RunCancelled(run_id=run_id, reason=why))
                # The stream's own version: a claim appended meanwhile makes this a conflict.
                expected: ExpectedVersion = await self.store.stream_version(run_stream(run_id))
            else:
                expected = "any"
            try:
                await self.store.append(
                    run_stream(run_id),
                    events,
                    expected=expected,
                    meta=Meta(actor=actor),
                )
            except ConcurrencyError:
                continue  # claimed (or progressed) meanwhile: decide again
            return await self.q.run(run_id)
        raise Conflict(f"run {run_id} kept changing; try again")
