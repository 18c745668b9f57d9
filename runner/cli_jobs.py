"""``runner jobs ...``, ``runner runs ...`` and ``runner settings ...``."""

from __future__ import annotations

import argparse
import json
from typing import Any

import msgspec

from runner.app import Runner
from runner.commands.bulk_cancel import CancelFilter
from runner.errors import NotFound
from runner.text import escape_terminal


async def _job_id(r: Runner, ref: str) -> str:
    """A job id, or the id of the job named exactly *ref* (names work wherever ids do)."""
    if ref.startswith("job_"):
        return ref
    found = await r.queries.job_by_name(ref.strip())
    if found is None:  # an id of another shape (older releases, imports)
        try:
            return (await r.queries.job(ref)).job_id
        except NotFound:
            pass
    if found is None:
        raise NotFound(f"no job with id or name {ref[:200]!r} (see runner jobs list)", field="job")
    return found.job_id


def _print(data: Any) -> None:
    print(json.dumps(msgspec.to_builtins(data), indent=2, ensure_ascii=False, default=str))


def _job_fields(args: argparse.Namespace) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key in (
        "name",
        "prompt",
        "cron",
        "timezone",
        "model",
        "timeout_seconds",
        "max_turns",
        "budget_usd",
        "overlap",
        "catch_up",
        "catch_up_window_seconds",
        "approval_timeout_seconds",
        "approval_on_timeout",
        "node_label",
    ):
        value = getattr(args, key, None)
        if value is not None:
            fields[key] = value
    for key in ("tools", "mcp_servers", "ask_first"):
        value = getattr(args, key, None)
        if value is not None:
            fields[key] = [v for v in value.split(",") if v.strip()]
    if getattr(args, "max_attempts", None) is not None:
        fields["retry"] = {"max_attempts": args.max_attempts}
        if args.backoff_seconds is not None:
            fields["retry"]["backoff_seconds"] = args.backoff_seconds
    if getattr(args, "manual", False):
        fields["cron"] = None
    if getattr(args, "disabled", False):
        fields["enabled"] = False
    return fields


def _add_job_options(p: argparse.ArgumentParser, *, create: bool) -> None:
    p.add_argument("--name", required=create, help="job name (at most 200 characters)")
    p.add_argument("--prompt", required=create, help="what Claude should do")
    schedule = p.add_mutually_exclusive_group()  # --manual --cron X is refused, not half-applied
    schedule.add_argument("--cron", help='5-field cron, e.g. "0 7 * * 1-5"; omit for manual-only')
    schedule.add_argument(
        "--manual", action="store_true", help="no schedule: run only when triggered"
    )
    p.add_argument("--timezone", help="IANA zone of the cron, e.g. Europe/Brussels (default UTC)")
    p.add_argument("--model")
    p.add_argument("--tools", help="comma-separated built-in tools and mcp__server__tool names")
    p.add_argument("--mcp-servers", dest="mcp_servers", help="comma-separated server names")
    p.add_argument("--timeout-seconds", dest="timeout_seconds", type=float)
    p.add_argument("--max-turns", dest="max_turns", type=int)
    p.add_argument("--budget-usd", dest="budget_usd", type=float)
    p.add_argument("--overlap", choices=["skip", "buffer_one", "allow", "cancel_previous"])
    p.add_argument("--catch-up", dest="catch_up", choices=["skip", "latest", "all"])
    p.add_argument("--catch-up-window-seconds", dest="catch_up_window_seconds", type=float)
    p.add_argument(
        "--max-attempts", dest="max_attempts", type=int, help="retry attempts (1 = none)"
    )
    p.add_argument("--backoff-seconds", dest="backoff_seconds", type=float)
    p.add_argument(
        "--ask-first",
        dest="ask_first",
        help="comma-separated tools that wait for approval (Bash, mcp__email__send, mcp__email__*)",
    )
    p.add_argument("--approval-timeout-seconds", dest="approval_timeout_seconds", type=float)
    p.add_argument(
        "--approval-on-timeout",
        dest="approval_on_timeout",
        choices=["deny_and_continue", "fail_run"],
    )
    p.add_argument(
        "--node-label",
        dest="node_label",
        help="run only on nodes carrying this label (RUNNER_NODE_LABELS); '' removes the pin",
    )
    if create:
        p.add_argument("--disabled", action="store_true", help="create paused")


async def _create(r: Runner, a: argparse.Namespace) -> int:
    job, warnings = await r.jobs.create(_job_fields(a), actor="cli")
    _print({"job": job, "warnings": warnings})
    return 0


async def _list(r: Runner, a: argparse.Namespace) -> int:
    page = await r.queries.jobs(limit=a.limit)
    for j in page.items:
        sched = j.spec.cron or "manual"
        state = "enabled" if j.enabled else "paused"
        print(
            f"{j.job_id}  {state:8} {escape_terminal(sched):18} "
            f"{escape_terminal(j.spec.timezone):16} {escape_terminal(j.spec.name)}"
        )
    if not page.items:
        print("no jobs yet: runner jobs create --name NAME --prompt TEXT --cron EXPR")
    return 0


async def _show(r: Runner, a: argparse.Namespace) -> int:
    _print(await r.queries.job(await _job_id(r, a.job_id)))
    return 0


async def _update(r: Runner, a: argparse.Namespace) -> int:
    fields = _job_fields(a)
    if a.enable:
        fields["enabled"] = True
    if a.disable:
        fields["enabled"] = False
    job, warnings = await r.jobs.update(await _job_id(r, a.job_id), fields, actor="cli")
    _print({"job": job, "warnings": warnings})
    return 0


async def _delete(r: Runner, a: argparse.Namespace) -> int:
    job_id = await _job_id(r, a.job_id)
    cancelled = await r.jobs.delete(job_id, actor="cli")
    _print({"deleted": job_id, "cancelled_runs": cancelled})
    return 0


async def _run(r: Runner, a: argparse.Namespace) -> int:
    run = await r.runs.request_job(await _job_id(r, a.job_id), actor="cli")
    _print({"run_id": run.run_id, "state": run.state})
    return 0


async def _runs(r: Runner, a: argparse.Namespace) -> int:
    from runner.queries import RunFilter

    job_id = await _job_id(r, a.job) if a.job else None
    page = await r.queries.runs(RunFilter(job_id=job_id, state=a.state), limit=a.limit)
    for run in page.items:
        print(
            f"{run.run_id}  {run.state:10} {run.trigger:9} ${run.cost_usd:.4f}  "
            f"{escape_terminal(run.job_name or run.job_id or '(ad hoc)')}"
        )
    return 0


async def _cancel(r: Runner, a: argparse.Namespace) -> int:
    run = await r.runs.cancel(a.run_id, actor="cli")
    _print({"run_id": run.run_id, "state": run.state, "cancel_requested": run.cancel_requested})
    return 0


async def _settings(r: Runner, a: argparse.Namespace) -> int:
    if a.set:
        changes: dict[str, Any] = {}
        for item in a.set:
            key, _, raw = item.partition("=")
            try:
                changes[key] = json.loads(raw)
            except json.JSONDecodeError:
                changes[key] = raw
        _print(await r.settings.change(changes, actor="cli"))
    else:
        _print(await r.queries.settings())
    return 0


def add_bulk_cancel(rsub: Any) -> None:
    """``runner runs cancel-all``: bulk cancel by job, webhook or trigger."""
    p = rsub.add_parser(
        "cancel-all", help="cancel every queued run of a job, webhook or trigger (bulk)"
    )
    p.add_argument("--job", help="job id")
    p.add_argument("--webhook", help="webhook id")
    p.add_argument("--trigger", help="schedule, webhook, manual, retry, ...")
    p.add_argument("--running", action="store_true", help="also stop runs already running")
    p.add_argument("--all", action="store_true", help="every queued run (no other filter)")
    p.add_argument("--reason", default="")
    p.set_defaults(handler=_cancel_all)


async def _cancel_all(r: Runner, a: argparse.Namespace) -> int:
    filt = CancelFilter(job_id=a.job, webhook_id=a.webhook, trigger=a.trigger,
                        include_running=a.running, everything=a.all)  # fmt: skip
    result = await r.bulk_cancel.cancel(filt, actor="cli", reason=a.reason)
    _print(msgspec.to_builtins(result))
    return 0


def add_job_commands(sub: Any) -> None:
    jobs = sub.add_parser("jobs", help="create, list, show, update, delete jobs")
    jsub = jobs.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    p = jsub.add_parser("create", help="create a job")
    _add_job_options(p, create=True)
    p.set_defaults(handler=_create)
    p = jsub.add_parser("list", help="list jobs")
    p.add_argument("--limit", type=int, default=200)
    p.set_defaults(handler=_list)
    p = jsub.add_parser("show", help="show one job")
    p.add_argument("job_id", help="a job id or the job's exact name")
    p.set_defaults(handler=_show)
    p = jsub.add_parser("update", help="change some fields of a job")
    p.add_argument("job_id", help="a job id or the job's exact name")
    _add_job_options(p, create=False)
    p.add_argument("--enable", action="store_true")
    p.add_argument("--disable", action="store_true")
    p.set_defaults(handler=_update)
    p = jsub.add_parser("delete", help="delete a job (its queued and running runs are cancelled)")
    p.add_argument("job_id", help="a job id or the job's exact name")
    p.set_defaults(handler=_delete)
    p = jsub.add_parser("run", help="run a job now")
    p.add_argument("job_id", help="a job id or the job's exact name")
    p.set_defaults(handler=_run)

    runs = sub.add_parser("runs", help="list or cancel runs")
    rsub = runs.add_subparsers(dest="runs_command", required=True, metavar="ACTION")
    p = rsub.add_parser("list", help="recent runs")
    p.add_argument("--job", help="only this job's runs: its id or exact name")
    p.add_argument("--state")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(handler=_runs)
    p = rsub.add_parser("cancel", help="cancel a queued or running run")
    p.add_argument("run_id")
    p.set_defaults(handler=_cancel)
    add_bulk_cancel(rsub)

    p = sub.add_parser("settings", help="show settings, or change them with --set KEY=VALUE")
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.set_defaults(handler=_settings)
