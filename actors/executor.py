"""The executor: runs one claimed run with ``ClaudeSDKClient`` to exactly one terminal event.

On the stream ``run-<run_id>`` (the claimer already wrote ``RunClaimed``) it appends
``RunStarted`` → ``RunOutput``*/``RunUsage``*/``RunToolDenied``* → one of ``RunSucceeded``,
``RunFailed``, ``RunTimedOut`` or ``RunCancelled``. Cancelling the task that runs ``execute``
interrupts and disconnects the CLI in a shielded, bounded scope (a reaper SIGKILLs it if it is
still alive after ``close_timeout_seconds``), appends ``RunCancelled`` and re-raises.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Awaitable, Callable
from contextlib import suppress

import anyio
from claude_agent_sdk import ClaudeAgentOptions

from actors import assistant_run as turns
from actors.approvals import ApprovalSettings
from actors.assistant_grants import AssistantDoor, AssistantUnavailable
from actors.executor_client import (
    ClientFactory,
    NullResolver,
    ResolvedServers,
    ServerResolver,
    cli_pid,
    reap_after,
    sdk_client_factory,
)
from actors.executor_errors import Failure, from_exception, from_result_message
from actors.executor_gate import NO_SANDBOX, Gate
from actors.executor_options import (
    ExecutorSettings,
    SandboxMode,
    auth_mode,
    build_options,
    inner_sandbox_available,
    relayed,
    remove_scratch,
    run_dirs,
    sandbox_problem,
    write_mcp_config,
)
from actors.executor_output import Redactor
from actors.executor_run import RunContext, RunState, denied_target, timeout_of
from actors.executor_sandbox import bwrap_failure, confine, refusal, run_box
from actors.relay import Relay, RelayUnavailable
from actors.sandbox import SandboxError, processes, quota
from actors.untrusted import SYSTEM_NOTE
from events.catalogue import Event
from events.runs import (
    RunCancelled,
    RunResult,
    RunStarted,
    RunSucceeded,
    RunTimedOut,
    RunToolDenied,
)
from events.store import EventStore

log = logging.getLogger(__name__)

__all__ = ["Executor", "RunContext"]


class Executor:
    """Runs claimed runs; one ``Executor`` serves any number of concurrent ``execute`` calls."""

    approval_settings = ApprovalSettings()

    def __init__(
        self,
        store: EventStore,
        settings: ExecutorSettings,
        *,
        resolver: ServerResolver | None = None,
        client_factory: ClientFactory = sdk_client_factory,
        sandbox_mode: Callable[[], Awaitable[SandboxMode]] | None = None,
        relay: Relay | None = None,
        assistant: AssistantDoor | None = None,
    ) -> None:
        self.store = store
        self.assistant = assistant
        """Where assistant turns reach the runner's own MCP endpoint (``None``: refused)."""
        self.settings = settings
        self.relay = relay
        """Runs get a relay token instead of the credentials when this is set and running."""
        self.resolver: ServerResolver = resolver or NullResolver()
        self.client_factory = client_factory
        self._sandbox_mode = sandbox_mode
        self._cancel_reasons: dict[str, str] = {}
        self.active_pids: dict[str, int] = {}
        """CLI process id of every run in flight (for diagnostics and tests)."""

    def note_cancel(self, run_id: str, reason: str) -> None:
        """Say why a run is about to be cancelled (recorded in its ``RunCancelled``)."""
        self._cancel_reasons[run_id] = reason

    async def execute(self, ctx: RunContext) -> None:
        """Run ``ctx`` to exactly one terminal event; re-raises cancellation after recording."""
        turn = ctx.spec.assistant
        try:
            if turn is not None:
                dirs = turns.conversation_dirs(self.settings, ctx.run_id, turn.conversation_id)
            else:
                dirs = run_dirs(self.settings, ctx.run_id, ctx.job_id)
        except ValueError as exc:
            failed = Failure("invalid_request", str(exc)).event(ctx.run_id, None)
            await self.store.append(f"run-{ctx.run_id}", [failed], expected="any")
            return
        settings, relay_down = self._run_settings(ctx)
        run = RunState(self, ctx, dirs, settings)
        run.relay_down = relay_down
        try:
            await run.emit(
                [
                    RunStarted(
                        run_id=ctx.run_id,
                        workspace=str(dirs.workspace),
                        model=run.model,
                        auth=auth_mode(self.settings),
                    )
                ]
            )
            try:
                terminal = await self._run(run)
            except Exception as exc:  # a bug or a failing resolver: still exactly one terminal
                log.exception("run %s failed in the executor", ctx.run_id)
                terminal = run.failed(Failure("internal", f"{type(exc).__name__}: {exc}"))
            # Shielded: a cancel arriving now must not leave a second terminal event behind.
            with anyio.CancelScope(shield=True):
                await run.approvals.close()
                await run.emit([*run.recorder.finish(), *run.late, terminal])
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                reason = self._cancel_reasons.get(ctx.run_id, "cancelled")
                await run.approvals.close(f"the run was cancelled ({reason})")
                cancelled = RunCancelled(
                    run_id=ctx.run_id, reason=reason, result=run.recorder.run_result()
                )
                await run.emit([*run.recorder.finish(), cancelled])
            raise
        finally:
            if self.relay is not None:
                self.relay.close(ctx.run_id)
            self._cancel_reasons.pop(ctx.run_id, None)
            self.active_pids.pop(ctx.run_id, None)
            if turn is not None:
                if self.assistant is not None:
                    self.assistant.close(ctx.run_id)
                turns.end_turn(dirs)
            else:
                remove_scratch(dirs)
            # A job-less (webhook/ad-hoc) run's workspace is its own; a conversation keeps its.
            if ctx.job_id is None and turn is None:
                shutil.rmtree(dirs.workspace, ignore_errors=True)

    async def sandbox_mode(self) -> SandboxMode:
        """The configured sandbox mode (settings override, else the live setting)."""
        if self.settings.sandbox_mode is not None:
            return self.settings.sandbox_mode
        if self._sandbox_mode is not None:
            return await self._sandbox_mode()
        return "auto"

    def _run_settings(self, ctx: RunContext) -> tuple[ExecutorSettings, str | None]:
        """Ask the relay for the run's token; without one the run uses the credentials. A relay
        that should serve but does not leaves the run with no credential at all."""
        if self.relay is None:
            return self.settings, None
        ttl = ctx.spec.timeout_seconds or self.settings.default_timeout_seconds
        try:
            grant = self.relay.open(ctx.run_id, ctx.job_id, ctx.spec.budget_usd, ttl)
        except RelayUnavailable as exc:
            return relayed(self.settings, {}), str(exc)
        return (self.settings, None) if grant is None else (relayed(self.settings, grant.env), None)

    async def _run(self, run: RunState) -> Event:
        spec = run.ctx.spec
        if run.relay_down is not None:
            return run.failed(Failure("api_error", run.relay_down.capitalize(), True))
        cli = self.settings.cli_path
        if cli is not None and not (cli.is_file() and os.access(cli, os.X_OK)):
            return run.failed(Failure("cli_not_found", f"No executable Claude Code CLI at {cli}"))
        mode = await self.sandbox_mode()
        problem = sandbox_problem(self.settings) if mode != "off" else "off"
        why = refusal(mode, problem, spec.tools, spec.mcp_servers)
        if why is not None:
            return run.failed(Failure("sandbox_unavailable", why))
        run.boxed = problem is None
        try:
            resolved = await self.resolver.resolve(spec.mcp_servers)
        except LookupError as e:
            return run.failed(Failure("invalid_request", f"Unknown tool server: {e}"))
        missing = [n for n in spec.mcp_servers if n not in resolved.configs]
        if missing:
            names = ", ".join(missing)
            return run.failed(Failure("invalid_request", f"Unknown tool server(s): {names}"))
        run.redact.secrets = Redactor([*run.redact.secrets, *resolved.secrets]).secrets
        if spec.assistant is not None:
            ttl = timeout_of(spec, self.settings) + self.approval_settings.max_excluded_seconds
            try:
                run.own_servers, run.resume = turns.open_turn(
                    self.assistant, run.ctx.run_id, spec.assistant, run.dirs, ttl
                )
            except AssistantUnavailable as exc:
                return run.failed(Failure("invalid_request", str(exc)))
            if spec.assistant.resume and run.resume is None:
                await run.emit(run.recorder.system(turns.LOST_SESSION))
        try:
            return await self._run_client(run, resolved)
        except SandboxError as exc:
            return run.failed(Failure("sandbox_failed", f"the sandbox could not start: {exc}"))

    def _options(self, run: RunState, resolved: ResolvedServers) -> tuple[ClaudeAgentOptions, bool]:
        spec = run.ctx.spec
        configs = {n: resolved.configs[n] for n in spec.mcp_servers}
        configs.update(run.own_servers)
        mcp_servers, mcp_file = write_mcp_config(run.dirs, configs)
        sandbox = run.boxed or inner_sandbox_available(self.settings)
        gate = Gate(
            workspace=run.dirs.workspace,
            tools=spec.tools,
            servers=(*spec.mcp_servers, *run.own_servers),
            sandbox=sandbox,
            contained=run.boxed,
            on_denied=run.on_denied,
            approvals=run.approvals,
        )
        run.gate = gate
        opts = build_options(
            run.settings,
            run.dirs,
            model=run.model,
            tools=list(spec.tools),
            mcp_servers=mcp_servers,
            can_use_tool=gate.can_use_tool,
            pre_tool_use=gate.pre_tool_use,
            stderr=run.on_stderr,
            max_turns=spec.max_turns,
            budget_usd=None if run.relayed else spec.budget_usd,  # the relay enforces it live
            sandbox=sandbox and not run.boxed and "Bash" in spec.tools,
            keep_session=spec.assistant is not None,
            resume=run.resume,
        )
        if spec.untrusted_input:
            opts.system_prompt = SYSTEM_NOTE
        elif spec.assistant is not None:
            opts.system_prompt = turns.SYSTEM_PROMPT
        if mcp_file is not None:  # in-process servers go as a dict, the others as a file
            opts.extra_args["mcp-config"] = str(mcp_file)
        if run.boxed:
            box = run_box(
                self.settings,
                run.dirs,
                dict(opts.env),
                resolved.mounts,
                servers=bool(resolved.configs),
            )
            confine(opts, box)
        return opts, sandbox

    async def _run_client(self, run: RunState, resolved: ResolvedServers) -> Event:
        spec = run.ctx.spec
        opts, sandbox = self._options(run, resolved)
        if "Bash" in spec.tools and not sandbox:
            await run.emit(run.recorder.system(NO_SANDBOX))
        timeout = timeout_of(spec, self.settings)
        client = self.client_factory(opts)
        run.client = client
        failure: Failure | None = None
        finished = False
        try:
            with anyio.move_on_after(timeout) as deadline:
                run.approvals.scope = deadline
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._watch_disk, run, tg.cancel_scope)
                    try:
                        await client.connect()
                        run.pid = cli_pid(client)
                        if run.pid is not None:
                            self.active_pids[run.ctx.run_id] = run.pid
                            processes.write_record(
                                run.dirs.scratch, run.pid, sandboxed=run.boxed, tmp=run.dirs.tmp
                            )
                        await client.query(spec.prompt)
                        async for msg in client.receive_response():
                            await run.emit(run.recorder.handle(msg))
                        finished = True
                    except Exception as exc:
                        rec = run.recorder
                        failure = from_exception(exc, rec.api_error, run.model)
                        if rec.result is not None:
                            failure = (
                                from_result_message(rec.result, rec.api_error, run.model) or failure
                            )
                        finished = True
                    tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self._close(run, interrupt=not finished)
        if run.disk_breach is not None:
            return run.failed(Failure("disk_quota", f"stopped: {run.disk_breach}"))
        if run.approvals.failure is not None:
            return run.failed(Failure("approval_timed_out", run.approvals.failure))
        if run.boxed and failure is not None and (why := bwrap_failure(run.stderr)):
            failure = Failure("sandbox_failed", f"the sandbox could not start: {why}")
        if deadline.cancelled_caught:
            return RunTimedOut(
                run_id=run.ctx.run_id,
                timeout_seconds=float(timeout),
                result=run.recorder.run_result(),
            )
        refused = self.relay.refusal(run.ctx.run_id) if self.relay is not None else None
        if refused is not None:
            failure = Failure("budget_exceeded", refused[1])
        return self._terminal(run, failure)

    async def _watch_disk(self, run: RunState, scope: anyio.CancelScope) -> None:
        s = self.settings
        d = run.dirs
        run.disk_breach = await quota.watch(
            (d.workspace, d.scratch, d.tmp),
            quota=s.workspace_quota_bytes,
            disk=s.data_dir,
            reserve=s.disk_reserve_bytes,
            interval=s.disk_check_seconds,
        )
        scope.cancel()

    def _terminal(self, run: RunState, failure: Failure | None) -> Event:
        rec = run.recorder
        denials = rec.result.permission_denials if rec.result else None
        for d in denials or ():
            if isinstance(d, dict) and run.gate is not None:
                tid = str(d.get("tool_use_id") or "")
                if tid and not run.gate.mark_reported(tid):
                    run.late.append(
                        RunToolDenied(
                            run_id=run.ctx.run_id,
                            tool=str(d.get("tool_name") or ""),
                            reason="denied by Claude Code",
                            target=run.redact(denied_target(d.get("tool_input"))),
                        )
                    )
        if failure is not None:
            return run.failed(failure)
        if rec.result is None:
            return run.failed(Failure("cli_crashed", "Claude Code ended without a result", True))
        f = from_result_message(rec.result, rec.api_error, run.model)
        if f is not None:
            return run.failed(f)
        text = run.redact(rec.result.result or "")[: self.settings.max_block_chars]
        return RunSucceeded(
            run_id=run.ctx.run_id, result_text=text, result=rec.run_result() or RunResult()
        )

    async def _close(self, run: RunState, *, interrupt: bool) -> None:
        """Interrupt (if mid-run) and disconnect; SIGKILL the CLI if it outlives the bound."""
        client = run.client
        if client is None:
            return
        pid = run.pid if run.pid is not None else cli_pid(client)
        bound = self.settings.close_timeout_seconds
        async with anyio.create_task_group() as tg:
            if pid is not None:
                tg.start_soon(reap_after, pid, bound)
            try:
                if interrupt:
                    with anyio.move_on_after(bound / 2), suppress(Exception):
                        await client.interrupt()
                with suppress(Exception):
                    await client.disconnect()
            finally:
                tg.cancel_scope.cancel()
