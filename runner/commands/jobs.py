"""Job commands: create, update, pause, resume, delete."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from events.backend import Backend
from events.envelope import Meta
from events.errors import ConcurrencyError
from events.ids import job_stream, new_id, run_stream
from events.jobs import JobCreated, JobDeleted, JobPaused, JobResumed, JobSpec, JobUpdated
from events.runs import RunCancelRequested
from projections import JobView
from runner.errors import Conflict, InvalidInput
from runner.jobs_input import build_spec, validate_tools
from runner.queries import Queries


class JobCommands:
    def __init__(self, store: Backend, queries: Queries) -> None:
        self.store = store
        self.q = queries

    async def _checked(self, spec: JobSpec, *, job_id: str | None) -> tuple[JobSpec, list[str]]:
        settings = await self.q.settings()
        tools, servers, warnings = validate_tools(
            spec.tools,
            spec.mcp_servers,
            allowed_builtins=settings.allowed_builtin_tools,
            known_servers=await self.q.known_servers(),
            server_tools=await self.q.server_tools(),
        )
        same = await self.q.job_by_name(spec.name)
        if same is not None and same.job_id != job_id:
            raise Conflict(
                f"a job named {spec.name!r} already exists ({same.job_id}); choose another name",
                field="name",
            )
        from msgspec.structs import replace

        return replace(spec, tools=tools, mcp_servers=servers), warnings

    async def create(
        self, data: Mapping[str, Any], *, actor: str = "user"
    ) -> tuple[JobView, list[str]]:
        """Create a job; returns it and any warnings (e.g. normalised tool names)."""
        spec, warnings = await self._checked(build_spec(data), job_id=None)
        job_id = new_id("job")
        await self.store.append(
            job_stream(job_id),
            [JobCreated(job_id=job_id, spec=spec)],
            expected="no_stream",
            meta=Meta(actor=actor),
        )
        return await self.q.job(job_id), warnings

    async def update(
        self,
        job_id: str,
        data: Mapping[str, Any],
        *,
        actor: str = "user",
        expected_version: int | None = None,
    ) -> tuple[JobView, list[str]]:
        """Change some fields; ``expected_version`` guards against overwriting a concurrent edit."""
        job = await self.q.job(job_id)
        if not data:
            raise InvalidInput("nothing to update: give at least one field")
        if expected_version is not None and expected_version != job.version:
            raise Conflict(
                f"job {job_id} changed since you read it (version {expected_version}, now "
                f"{job.version}); reload and try again"
            )
        spec, warnings = await self._checked(build_spec(data, base=job.spec), job_id=job_id)
        changed = tuple(
            f for f in JobSpec.__struct_fields__ if getattr(spec, f) != getattr(job.spec, f)
        )
        if not changed:
            return job, warnings
        try:
            await self.store.append(
                job_stream(job_id),
                [JobUpdated(job_id=job_id, spec=spec, changed=changed)],
                expected=job.version,
                meta=Meta(actor=actor),
            )
        except ConcurrencyError:
            raise Conflict(f"job {job_id} changed while updating; reload and try again")
        return await self.q.job(job_id), warnings

    async def pause(
        self, job_id: str, *, actor: str = "user", reason: str | None = None
    ) -> JobView:
        job = await self.q.job(job_id)
        if job.enabled:
            await self.store.append(
                job_stream(job_id),
                [JobPaused(job_id=job_id, reason=reason)],
                meta=Meta(actor=actor),
            )
        return await self.q.job(job_id)

    async def resume(self, job_id: str, *, actor: str = "user") -> JobView:
        job = await self.q.job(job_id)
        if not job.enabled:
            await self.store.append(
                job_stream(job_id), [JobResumed(job_id=job_id)], meta=Meta(actor=actor)
            )
        return await self.q.job(job_id)

    async def delete(self, job_id: str, *, actor: str = "user") -> list[str]:
        """Delete a job; its queued and running runs are cancelled. Returns those run ids."""
        job = await self.q.job(job_id)
        await self.store.append(
            job_stream(job_id),
            [JobDeleted(job_id=job_id, name=job.spec.name)],
            expected=job.version,
            meta=Meta(actor=actor),
        )
        cancelled = []
        for run in await self.q.active_runs():
            if run.job_id == job_id:
                await self.store.append(
                    run_stream(run.run_id),
                    [RunCancelRequested(run_id=run.run_id, by=actor, reason="job deleted")],
                    meta=Meta(actor=actor),
                )
                cancelled.append(run.run_id)
        return cancelled
