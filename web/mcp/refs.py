"""Ids or names: every tool that takes a job or webhook id also takes its exact name."""

from __future__ import annotations

from runner.app import Runner
from runner.errors import NotFound


async def job_ref(runner: Runner, ref: str, *, field: str = "job_id") -> str:
    """The job id *ref*, or the id of the job named exactly *ref*."""
    if ref.startswith("job_"):
        try:
            return (await runner.queries.job(ref)).job_id
        except NotFound:
            pass  # a job may be *named* like an id
    found = await runner.queries.job_by_name(ref.strip())
    if found is None:
        raise NotFound(
            f"no job with id or name {ref[:200]!r} (expected a job id such as "
            "'job_1a2b3c4d5e6f' or an exact job name; see list_jobs)",
            field=field,
        )
    return found.job_id


async def webhook_ref(runner: Runner, ref: str, *, field: str = "webhook_id") -> str:
    """The webhook id *ref*, or the id of the webhook named exactly *ref*."""
    try:
        return (await runner.queries.webhook(ref)).webhook_id
    except NotFound:
        wanted = ref.strip()
        for hook in await runner.queries.webhooks():
            if hook.name == wanted:
                return hook.webhook_id
        raise NotFound(
            f"no webhook with id or name {ref[:200]!r} (expected a webhook id such as "
            "'wh_1a2b3c4d5e6f' or an exact webhook name; see list_webhooks)",
            field=field,
        ) from None
