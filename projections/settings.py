"""Service settings (one row) and service-level records: instances and actor crashes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import msgspec

from events.envelope import Recorded
from events.system import ActorCrashed, ServiceStarted, ServiceStopped, SettingsChanged
from projections.base import Change, Table, View, simple_projection

#: Built-in Claude Code tools a job may be given.
BUILTIN_TOOLS: tuple[str, ...] = (
    "Read",
    "Write",
    "Edit",
    "Glob",
    "Grep",
    "Bash",
    "WebFetch",
    "WebSearch",
    "NotebookEdit",
    "TodoWrite",
    "Task",
)

SandboxMode = Literal["auto", "required", "off"]


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """The effective settings (defaults overlaid with every ``SettingsChanged``)."""

    max_concurrent_runs: int = 3
    default_model: str = "claude-sonnet-4-5"
    default_timeout_seconds: float = 1800.0
    default_budget_usd: float | None = None
    allowed_builtin_tools: tuple[str, ...] = BUILTIN_TOOLS
    sandbox_mode: SandboxMode = "auto"
    daily_budget_usd: float | None = None
    job_daily_budget_usd: float | None = None
    """Each job's spend per UTC day, enforced live by the model relay."""
    output_retention_days: float | None = None
    """Run output and webhook bodies of runs finished longer ago are erased (None: kept)."""
    #: Back-pressure: runs of one job (one webhook) waiting beyond these are RunSkipped(queue_full).
    max_queued_per_job: int = 20
    max_queued_per_webhook: int = 100
    approval_notify_email: str | None = None
    """Mail each approval request here, through the built-in ``email`` server's SMTP settings."""
    approval_notify_url: str | None = None
    """POST each approval request here as JSON, HMAC-signed (``runner.approval_notify``)."""


SETTING_NAMES = frozenset(Settings.__struct_fields__)


def effective(values: Mapping[str, Any]) -> Settings:
    """Overlay stored values on the defaults (unknown keys from newer versions are ignored)."""
    known = {k: v for k, v in values.items() if k in SETTING_NAMES}
    return msgspec.convert(known, Settings, strict=False)


class SettingsView(msgspec.Struct, frozen=True, kw_only=True):
    values: dict[str, Any] = {}
    updated_at_us: int = 0


class InstanceView(msgspec.Struct, frozen=True, kw_only=True):
    instance: str
    pid: int
    version: str
    started_at_us: int
    stopped_at_us: int | None = None
    crashes: int = 0
    last_crash: str | None = None


class CrashView(msgspec.Struct, frozen=True, kw_only=True):
    instance: str
    actor: str
    error: str
    restart_in_seconds: float
    position: int
    crashed_at_us: int


SETTINGS = Table(name="v_settings", row_type=SettingsView)
INSTANCES = Table(
    name="v_instances",
    row_type=InstanceView,
    columns=(("started_at", "INTEGER"),),
    extract=lambda r: (r.started_at_us,),
)
CRASHES = Table(
    name="v_actor_crashes",
    row_type=CrashView,
    columns=(("crashed_at", "INTEGER"),),
    extract=lambda r: (r.crashed_at_us,),
    indexes=("crashed_at",),
    memory=False,
)


def _handle(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    now = rec.recorded_at_us
    match ev:
        case SettingsChanged():
            cur: SettingsView = view.get(SETTINGS.name, "settings") or SettingsView()
            yield (
                SETTINGS.name,
                "settings",
                SettingsView(values={**cur.values, **ev.changes}, updated_at_us=now),
            )
        case ServiceStarted():
            yield (
                INSTANCES.name,
                ev.instance,
                InstanceView(
                    instance=ev.instance, pid=ev.pid, version=ev.version, started_at_us=now
                ),
            )
        case ServiceStopped():
            inst: InstanceView | None = view.get(INSTANCES.name, ev.instance)
            if inst is not None:
                yield (
                    INSTANCES.name,
                    ev.instance,
                    msgspec.structs.replace(inst, stopped_at_us=now),
                )
        case ActorCrashed():
            yield (
                CRASHES.name,
                f"{rec.position:012d}",
                CrashView(
                    instance=ev.instance,
                    actor=ev.actor,
                    error=ev.error,
                    restart_in_seconds=ev.restart_in_seconds,
                    position=rec.position,
                    crashed_at_us=now,
                ),
            )
            inst = view.get(INSTANCES.name, ev.instance)
            if inst is not None:
                yield (
                    INSTANCES.name,
                    ev.instance,
                    msgspec.structs.replace(inst, crashes=inst.crashes + 1, last_crash=ev.actor),
                )


settings_projection = simple_projection(
    "settings",
    (SETTINGS, INSTANCES, CRASHES),
    {t: _handle for t in (SettingsChanged, ServiceStarted, ServiceStopped, ActorCrashed)},
)
