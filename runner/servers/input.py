"""Validating tool-server input: names, code, declared variables, external configs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import msgspec

from events.servers import EnvVarSpec
from projections import ServerView
from runner.errors import InvalidInput, NotFound
from runner.servers.code import analyse_code
from runner.servers.errors import InvalidServerCode, ServerError
from runner.servers.external import ExternalServer, parse_config
from runner.servers.names import validate_name

MAX_DESCRIPTION = 2000
AUTO_DESCRIPTION = "(read by the server code)"
CREATE_FIELDS = frozenset(
    {"name", "code", "description", "env", "sensitivity", "enabled", "config", "kind"}
)
UPDATE_FIELDS = frozenset({"code", "description", "env", "sensitivity", "config"})

ServerStatus = str
"""``disabled``, ``needs_credentials``, ``fails_to_start``, ``starting`` or ``ready``."""


def server_status(srv: ServerView, missing: Sequence[str]) -> ServerStatus:
    """One word for the dashboard: what stands between this server and a job using it."""
    if not srv.enabled:
        return "disabled"
    if missing:
        return "needs_credentials"
    if srv.start_error:
        return "fails_to_start"
    if not srv.tools:
        return "starting"
    return "ready"


def declared_env(raw: object) -> tuple[EnvVarSpec, ...]:
    if raw is None or raw == "":
        return ()
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise InvalidInput(f"env must be a JSON list: {exc}", field="env") from None
    if not isinstance(raw, list):
        raise InvalidInput("env must be a list of {name, description, required, sensitive}")
    out = []
    for item in raw:
        if isinstance(item, str):
            item = {"name": item}
        try:
            out.append(msgspec.convert(item, EnvVarSpec))
        except msgspec.ValidationError as exc:
            raise InvalidInput(f"env entry {item!r}: {exc}", field="env") from None
    return tuple(out)


def sensitivity_overrides(raw: object) -> dict[str, bool] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or not all(
        isinstance(k, str) and isinstance(v, bool) for k, v in raw.items()
    ):
        raise InvalidInput("sensitivity must map variable names to true/false", field="sensitivity")
    return dict(raw)


def description_text(raw: object) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise InvalidInput("description must be a string", field="description")
    if len(raw) > MAX_DESCRIPTION:
        raise InvalidInput(
            f"description is longer than {MAX_DESCRIPTION} characters", field="description"
        )
    return raw


def server_name(raw: object) -> str:
    try:
        return validate_name(raw)
    except ServerError as exc:
        raise InvalidInput(str(exc), field="name") from None


def analyse_input(
    code: object, declared: Sequence[EnvVarSpec], sens: Mapping[str, bool] | None
) -> tuple[str, tuple[EnvVarSpec, ...]]:
    if not isinstance(code, str | bytes):
        raise InvalidInput("code must be a string", field="code")
    try:
        return analyse_code(code, declared, sens)
    except InvalidServerCode as exc:
        field = "sensitivity" if "unknown environment variable" in str(exc) else "code"
        if "environment variable" in str(exc) and field == "code":
            field = "env"
        raise InvalidInput(str(exc), field=field) from None


def external_input(
    name: str,
    raw: object,
    description: str,
    declared: Sequence[EnvVarSpec],
    sens: Mapping[str, bool] | None,
    *,
    check_name: bool = True,
) -> ExternalServer:
    try:
        ext = parse_config(name, raw, description=description)
    except ServerError as exc:
        raise InvalidInput(str(exc), field="config") from None
    specs = {e.name: e for e in ext.env}
    for spec in declared:
        if spec.name not in specs:
            raise InvalidInput(
                f"env names {spec.name!r}, which the config does not use as ${{{spec.name}}}",
                field="env",
            )
        specs[spec.name] = spec
    for var, flag in (sens or {}).items():
        if var not in specs:
            raise InvalidInput(f"unknown environment variable(s): {var}", field="sensitivity")
        specs[var] = msgspec.structs.replace(specs[var], sensitive=flag)
    return ExternalServer(
        name=ext.name,
        config=ext.config,
        env=tuple(specs[k] for k in sorted(specs)),
        description=description,
        source_name=ext.source_name,
        secrets=ext.secrets,
    )


def keep_sensitivity(
    env: Sequence[EnvVarSpec],
    previous: Mapping[str, EnvVarSpec],
    sens: Mapping[str, bool] | None,
    declared: Sequence[EnvVarSpec],
) -> tuple[EnvVarSpec, ...]:
    """Carry a previous sensitivity override over to a re-detected variable."""
    explicit = set(sens or {}) | {d.name for d in declared}
    out = []
    for spec in env:
        old = previous.get(spec.name)
        if old is not None and spec.name not in explicit and old.sensitive != spec.sensitive:
            spec = msgspec.structs.replace(spec, sensitive=old.sensitive)
        out.append(spec)
    return tuple(out)


def require_known(known: Mapping[str, bool], name: str) -> None:
    """NotFound unless ``name`` is a registered server."""
    if name not in known:
        raise NotFound(f"no MCP server named {name!r}")
