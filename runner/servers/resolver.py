"""The executor's :class:`~actors.executor_client.ServerResolver` over the servers view.

A run gets exactly the servers its job names, each only if it is registered and enabled, each
with only its own decrypted credentials in its own process environment. ``secrets`` lists every
sensitive credential value the runner holds (of any server), so the executor redacts them all
from run output whatever tool printed them.

The ``memory`` built-in is per job: its ``DATA_DIR`` is ``<data_dir>/memory/<job id>``. The job
comes from :func:`job_scope`, which the service wraps around each run (the resolver protocol
itself only passes server names).
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actors.executor_client import ResolvedServers
from actors.sandbox import Mount, SandboxError, contained
from runner.commands.credentials import is_secret
from runner.secrets import SecretDecryptError
from runner.servers.errors import ServerError
from runner.servers.launch import (
    MIN_SECRET_CHARS,
    MissingCredentials,
    StdioLaunch,
    missing_credentials,
)
from runner.servers.materialize import code_path, write_server
from runner.servers.proxy import sdk_config
from runner.servers.sdk_config import to_sdk_config

if TYPE_CHECKING:
    from runner.commands.servers import ServerCommands

__all__ = ["MEMORY_DIR", "RunnerResolver", "job_scope"]

MEMORY_DIR = "memory"
PER_JOB_SERVERS = frozenset({"memory"})
_job: contextvars.ContextVar[tuple[str | None, str | None]] = contextvars.ContextVar(
    "runner_resolver_job", default=(None, None)
)


@contextmanager
def job_scope(job_id: str | None, run_id: str | None = None) -> Iterator[None]:
    """Resolve servers inside this block for ``job_id`` (per-job server data)."""
    token = _job.set((job_id, run_id))
    try:
        yield
    finally:
        _job.reset(token)


def _service_vars() -> dict[str, str]:
    """The service's own settings blanked for the servers Claude Code starts (it merges its
    environment under each server's ``env``): a user server never sees RUNNER_SECRET_KEY."""
    return {k: "" for k in os.environ if k.upper().startswith("RUNNER_")}


class RunnerResolver:
    """Resolves a job's server names to claude-agent-sdk configs with their credentials."""

    def __init__(self, servers: ServerCommands) -> None:
        self.servers = servers
        self.data_dir = servers.data_dir

    def memory_dir(self, name: str) -> Path | None:
        if name not in PER_JOB_SERVERS:
            return None
        job_id, run_id = _job.get()
        folder = job_id if job_id else f"adhoc-{run_id or 'run'}"
        return self.data_dir / MEMORY_DIR / name / folder

    async def resolve(self, names: Sequence[str]) -> ResolvedServers:
        """Configs for ``names``; raises ``LookupError`` naming a server that is unknown,
        disabled or missing required credentials (the run then fails with that reason)."""
        q = self.servers.q
        known = {s.name: s for s in await q.servers()}
        configs: dict[str, Any] = {}
        mounts: list[Mount] = []
        extra: set[str] = set()
        for name in dict.fromkeys(names):
            srv = known.get(name)
            if srv is None:
                raise LookupError(f"{name!r} is not registered")
            if not srv.enabled:
                raise LookupError(f"{name!r} is disabled")
            creds = await self.servers.credentials.values(name)
            missing = missing_credentials(srv.env, creds)
            if missing:
                raise LookupError(f"{name!r} needs credential(s) {', '.join(missing)}")
            if srv.kind == "dynamic" and srv.code is not None:
                path = code_path(self.data_dir, name)
                if not path.is_file():
                    write_server(self.data_dir, name, srv.code)
            try:  # confined in a sandbox of its own where the sandbox mode says so
                launch = await self.servers.launch(srv, server_data=self.memory_dir(name))
            except MissingCredentials as exc:
                raise LookupError(f"{name!r}: {exc}") from None
            except ServerError as exc:
                raise LookupError(f"{name!r}: {exc}") from None
            if isinstance(launch, StdioLaunch) and launch.confined:
                configs[name] = sdk_config(name, launch)
                extra.update(launch.secrets)
                continue
            config = to_sdk_config(launch)
            if isinstance(launch, StdioLaunch):
                config["env"] = {**_service_vars(), **config["env"]}
                for m in launch.mounts:  # shown inside the run's sandbox: refuse tricks
                    try:
                        contained(Path(m.source), self.data_dir, "server path")
                    except SandboxError as exc:
                        raise LookupError(f"{name!r}: {exc}") from None
                mounts.extend(launch.mounts)
            configs[name] = config
            extra.update(launch.secrets)
        secrets = sorted(set(await self.all_secrets()) | extra, key=len, reverse=True)
        return ResolvedServers(configs=configs, secrets=secrets, mounts=mounts)

    async def all_secrets(self) -> list[str]:
        """Every sensitive credential value of every server, longest first."""
        out: set[str] = set()
        for srv in await self.servers.q.servers():
            specs = {spec.name: spec for spec in srv.env}
            for cred in await self.servers.q.credentials(srv.name):
                if not is_secret(specs.get(cred.variable), cred):
                    continue
                try:
                    value = self.servers.credentials.open(cred)
                except SecretDecryptError:
                    continue
                if len(value) >= MIN_SECRET_CHARS:
                    out.add(value)
        return sorted(out, key=len, reverse=True)
