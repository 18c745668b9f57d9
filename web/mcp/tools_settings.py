"""Runtime settings by conversation: ``get_settings`` and ``update_settings``.

The same validation as the API and CLI (``runner.settings.validate_changes``); every change is
one ``SettingsChanged`` event, and the scheduler and claimer pick it up at once.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from pydantic import BaseModel, Field

from runner.app import Runner
from runner.errors import InvalidInput
from runner.settings import BUILTIN_TOOLS, Settings
from web.mcp.server import IDEMPOTENT, READ, RunnerMCP, actor

SettingName = Literal[
    "max_concurrent_runs",
    "default_model",
    "default_timeout_seconds",
    "default_budget_usd",
    "allowed_builtin_tools",
    "sandbox_mode",
    "daily_budget_usd",
]
SANDBOX_HELP = (
    "the bubblewrap sandbox policy of runs: auto (use it where available), required or off; "
    "the README's sandbox section says what each mode does"
)
TOOLS_HELP = "built-in tools jobs may be given, from: " + ", ".join(BUILTIN_TOOLS)


class SettingsOut(BaseModel):
    """The effective runtime settings."""

    max_concurrent_runs: int = Field(description="runs executing at once (1-100)")
    default_model: str = Field(description="model of jobs that name none")
    default_timeout_seconds: float = Field(description="timeout of jobs that set none")
    default_budget_usd: float | None = Field(description="per-run budget of jobs that set none")
    allowed_builtin_tools: list[str] = Field(description="built-in tools jobs may be given")
    sandbox_mode: str = Field(description=SANDBOX_HELP)
    daily_budget_usd: float | None = Field(
        description="runs are skipped (reason budget) once today's spend reaches it; null = none"
    )
    changed: list[str] = Field(default=[], description="the settings this call changed")


def _out(settings: Settings, changed: list[str] | None = None) -> SettingsOut:
    data = msgspec.to_builtins(settings)
    return SettingsOut(**data, changed=changed or [])


def register(mcp: RunnerMCP, runner: Runner) -> None:
    @mcp.tool(annotations=READ)
    async def get_settings() -> SettingsOut:
        """The runtime settings: concurrency, default model, timeout and budget, the daily
        budget, which built-in tools jobs may use, and the sandbox mode."""
        return _out(await runner.queries.settings())

    @mcp.tool(annotations=IDEMPOTENT)
    async def update_settings(
        max_concurrent_runs: Annotated[
            int | None, Field(ge=1, le=100, description="runs executing at once (1-100)")
        ] = None,
        default_model: Annotated[
            str | None,
            Field(min_length=1, max_length=200, description="model of jobs that name none"),
        ] = None,
        default_timeout_seconds: Annotated[
            float | None, Field(gt=0, le=86400, description="timeout of jobs that set none")
        ] = None,
        default_budget_usd: Annotated[
            float | None, Field(gt=0, description="per-run budget (USD) of jobs that set none")
        ] = None,
        daily_budget_usd: Annotated[
            float | None,
            Field(gt=0, description="skip runs once today's spend (USD) reaches this"),
        ] = None,
        allowed_builtin_tools: Annotated[
            list[str] | None,
            Field(description=TOOLS_HELP),
        ] = None,
        sandbox_mode: Annotated[
            Literal["auto", "required", "off"] | None, Field(description=SANDBOX_HELP)
        ] = None,
        reset: Annotated[
            list[SettingName] | None,
            Field(
                description="settings to put back to their default (for default_budget_usd "
                "and daily_budget_usd: no limit)"
            ),
        ] = None,
    ) -> SettingsOut:
        """Change runtime settings; the ones left out keep their value. Takes effect at once
        (the claimer and scheduler re-read them). Returns the settings after the change."""
        changes = {
            k: v
            for k, v in (
                ("max_concurrent_runs", max_concurrent_runs),
                ("default_model", default_model),
                ("default_timeout_seconds", default_timeout_seconds),
                ("default_budget_usd", default_budget_usd),
                ("daily_budget_usd", daily_budget_usd),
                ("allowed_builtin_tools", allowed_builtin_tools),
                ("sandbox_mode", sandbox_mode),
            )
            if v is not None
        }
        defaults = msgspec.to_builtins(Settings())
        for name in reset or ():
            if name in changes:
                raise InvalidInput(f"{name} is both given and reset; choose one", field="reset")
            changes[name] = defaults[name]
        if not changes:
            raise InvalidInput("nothing to change: give at least one setting (or reset=[...])")
        settings = await runner.settings.change(changes, actor=actor())
        return _out(settings, sorted(changes))
