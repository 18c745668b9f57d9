"""Who uses a tool server: the jobs and webhooks whose run spec names it (in ``mcp_servers`` or as
``mcp__<server>__<tool>``). Deleting a server they use is refused with their names, or, with
``cascade``, the server and its tools are first removed from each of them (through their own
commands, so each change is a validated ``JobUpdated`` / ``WebhookUpdated`` event).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from events.backend import Backend
from runner.errors import Conflict
from runner.queries import Queries
from runner.secrets import SecretBox

__all__ = ["ServerUser", "detach", "refuse_if_used", "users_of", "without_server"]


@dataclass(frozen=True, slots=True)
class ServerUser:
    kind: Literal["job", "webhook"]
    id: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name!r} ({self.id})"


def _uses(name: str, tools: Iterable[str], servers: Iterable[str]) -> bool:
    prefix = f"mcp__{name}__"
    return name in servers or any(t.startswith(prefix) for t in tools)


def without_server(
    name: str, tools: Iterable[str], servers: Iterable[str]
) -> tuple[list[str], list[str]]:
    """*tools* and *servers* with the server and every one of its tools left out."""
    prefix = f"mcp__{name}__"
    return [t for t in tools if not t.startswith(prefix)], [s for s in servers if s != name]


async def users_of(queries: Queries, name: str) -> list[ServerUser]:
    """Jobs, then webhooks, that name the server *name*, in name order."""
    users = [
        ServerUser("job", job.job_id, job.spec.name)
        for job in await queries.all_jobs()
        if _uses(name, job.spec.tools, job.spec.mcp_servers)
    ]
    users += [
        ServerUser("webhook", hook.webhook_id, hook.name)
        for hook in await queries.webhooks()
        if _uses(name, hook.spec.tools, hook.spec.mcp_servers)
    ]
    return sorted(users, key=lambda u: (u.kind, u.name))


def refuse_if_used(name: str, users: Sequence[ServerUser]) -> None:
    """``Conflict`` naming every user (the first 20) and the two ways forward."""
    if not users:
        return
    shown = ", ".join(str(u) for u in users[:20])
    more = f" and {len(users) - 20} more" if len(users) > 20 else ""
    raise Conflict(
        f"server {name!r} is used by {len(users)} job(s)/webhook(s): {shown}{more}. Remove it "
        "from them first, or delete with cascade=true to remove the server and its tools from "
        "each of them",
        field="name",
    )


async def detach(
    store: Backend,
    queries: Queries,
    box: SecretBox,
    name: str,
    users: Sequence[ServerUser],
    *,
    actor: str,
) -> None:
    """Remove server *name* and its tools from every user (one update event each)."""
    from runner.commands.jobs import JobCommands
    from runner.commands.webhooks import WebhookCommands

    known = await queries.known_servers()
    plans: list[tuple[ServerUser, list[str], list[str]]] = []
    for user in users:  # every check before the first write: no half-done cascade
        spec = (
            (await queries.job(user.id)).spec
            if user.kind == "job"
            else (await queries.webhook(user.id)).spec
        )
        tools, servers = without_server(name, spec.tools, spec.mcp_servers)
        blocked = [s for s in servers if not known.get(s, False)]
        if blocked:
            raise Conflict(
                f"cannot remove server {name!r} from {user}: it also uses "
                f"{', '.join(repr(b) for b in blocked)}, which is disabled or gone; enable it or "
                "remove it from that job/webhook first",
                field="cascade",
            )
        plans.append((user, tools, servers))
    jobs = JobCommands(store, queries)
    hooks = WebhookCommands(store, queries, box)
    for user, tools, servers in plans:
        fields = {"tools": tools, "mcp_servers": servers}
        if user.kind == "job":
            await jobs.update(user.id, fields, actor=actor)
        else:
            await hooks.update(user.id, fields, actor=actor)
