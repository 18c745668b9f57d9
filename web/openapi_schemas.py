"""Building blocks of the OpenAPI document: shared parameters and request-body schemas.

Kept apart from the route table (``web.openapi``) so each file does one thing; the schemas
say exactly what the server accepts (``web.api_input`` validates requests against them).
"""

from __future__ import annotations

from typing import Any

from runner.jobs_input import CATCH_UP, MAX_NAME, MAX_PROMPT, OVERLAP
from runner.queries import MAX_PAGE
from runner.settings import BUILTIN_TOOLS
from runner.webhooks.verify import SCHEMES

ERROR = {"$ref": "#/components/schemas/Error"}
OBJ: dict[str, Any] = {"type": "object"}
MAX_INT = 2**63 - 1
"""The largest whole number SQLite stores; larger positions and offsets are refused (422)."""
_CONTROLS = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
NO_CONTROLS = rf"^[^{_CONTROLS}]*$"
"""Linear-time patterns only: the API validates bodies of up to 1 MiB against them."""
NOT_BLANK = r"\S"
LIMIT = {
    "name": "limit",
    "in": "query",
    "description": f"page size; values above {MAX_PAGE} are served as {MAX_PAGE}",
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
}
OFFSET = {
    "name": "offset",
    "in": "query",
    "schema": {"type": "integer", "minimum": 0, "maximum": MAX_INT},
}
CURSOR = {
    "name": "cursor",
    "in": "query",
    "description": "next_cursor of the previous page (keyset paging: as fast on any page as "
    "on the first); offset is ignored with a cursor",
    "schema": {"type": "string", "maxLength": 240, "pattern": r"^(-?[0-9]{1,18}[.][!-~]{1,200})?$"},
}
PAGING = [LIMIT, OFFSET, CURSOR]
AFTER = [
    {
        "name": "after",
        "in": "query",
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_INT},
    }
]
DATE = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}


def query(*names: str, **schemas: dict[str, Any]) -> list[dict[str, Any]]:
    out = [
        {"name": n, "in": "query", "schema": {"type": "string", "maxLength": 200}} for n in names
    ]
    out += [{"name": n, "in": "query", "schema": s} for n, s in schemas.items()]
    return out


def _nullable(kind: str, **more: Any) -> dict[str, Any]:
    return {"oneOf": [{"type": kind, **more}, {"type": "null"}]}


NAME = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_NAME,
    "pattern": NOT_BLANK,
    "allOf": [{"pattern": NO_CONTROLS}],
    "description": "not blank; no control characters (ANSI escapes, NUL, newlines, bidi)",
}
NAMES = {
    "type": "array",
    "maxItems": 100,
    "items": {
        "type": "string",
        "minLength": 1,
        "maxLength": 300,
        "pattern": NOT_BLANK,
        "allOf": [{"pattern": NO_CONTROLS}],
    },
}
RUN_FIELDS: dict[str, Any] = {
    "tools": NAMES,
    "mcp_servers": NAMES,
    "model": {"type": ["string", "null"], "maxLength": 200, "pattern": r"^[^\x00-\x1f\x7f-\x9f]*$"},
    "timeout_seconds": _nullable("number", exclusiveMinimum=0, maximum=86400),
    "max_turns": _nullable("integer", minimum=1, maximum=1000),
    "budget_usd": _nullable("number", exclusiveMinimum=0, maximum=1e9),
    # Approvals (runner/approvals_input.py): tools that wait for a person, call by call.
    "ask_first": {
        "type": "array",
        "maxItems": 50,
        "items": {"type": "string", "minLength": 1, "maxLength": 300},
        "examples": [["mcp__email__send"]],
    },
    "ask_first_writes": {"type": ["boolean", "null"]},
    "approval_timeout_seconds": _nullable("number", exclusiveMinimum=0, maximum=604800),
    "approval_on_timeout": {"enum": ["deny_and_continue", "fail_run"]},
}
NODE_LABEL: dict[str, Any] = {
    "type": ["string", "null"],
    "maxLength": 63,
    "pattern": r"^([A-Za-z0-9][A-Za-z0-9._-]*)?$",
    "examples": ["gpu"],
    "description": "run only on nodes carrying this label (RUNNER_NODE_LABELS); null or '': "
    "any node",
}
JOB_PROPS: dict[str, Any] = {
    "name": NAME,
    "prompt": {"type": "string", "maxLength": MAX_PROMPT, "pattern": NOT_BLANK},
    "cron": {
        "type": ["string", "null"],
        "maxLength": 200,
        "examples": ["0 7 * * 1-5"],
        "description": "5-field cron (or @daily, ...); null, '' or 'manual' for none",
    },
    "timezone": {
        "type": "string",
        "maxLength": 64,
        "examples": ["Europe/Brussels"],
        "description": "an IANA time zone",
    },
    "enabled": {"type": "boolean"},
    **RUN_FIELDS,
    "retry": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "max_attempts": {"type": "integer", "minimum": 1, "maximum": 10},
            "backoff_seconds": {"type": "number", "minimum": 0, "maximum": 1e9},
            "backoff_factor": {"type": "number", "minimum": 1, "maximum": 1e9},
            "max_backoff_seconds": {"type": "number", "minimum": 0, "maximum": 1e9},
        },
    },
    "overlap": {"enum": list(OVERLAP)},
    "catch_up": {"enum": list(CATCH_UP)},
    "catch_up_window_seconds": {"type": "number", "minimum": 0, "maximum": 1e9},
    "node_label": NODE_LABEL,
}
JOB_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": JOB_PROPS,
}
JOB_CREATE = {**JOB_BODY, "required": ["name", "prompt"]}
JOB_PATCH = {
    **JOB_BODY,
    "minProperties": 1,
    "properties": {
        **JOB_PROPS,
        "expected_version": {"type": "integer", "minimum": 0, "maximum": MAX_INT},
    },
}
HOOK_PROPS: dict[str, Any] = {
    "name": NAME,
    "prompt_template": {
        "type": "string",
        "maxLength": MAX_PROMPT,
        "pattern": NOT_BLANK,
        "description": "a prompt with {{ payload.field }} placeholders",
    },
    "description": {"type": "string", "maxLength": 2000},
    **RUN_FIELDS,
    "node_label": NODE_LABEL,
    "rate_per_minute": {"type": "number", "exclusiveMinimum": 0, "maximum": 100_000},
    "burst": {"type": "integer", "minimum": 1, "maximum": 10_000},
}
HOOK_CREATE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "prompt_template"],
    "properties": {
        **HOOK_PROPS,
        "scheme": {"enum": list(SCHEMES)},
        "secret": {"type": ["string", "null"], "maxLength": 1000},
    },
}
HOOK_PATCH = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": HOOK_PROPS,
}
ENV = {
    "type": "array",
    "maxItems": 100,
    "items": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "description": {"type": "string", "maxLength": 2000},
            "required": {"type": "boolean"},
            "sensitive": {"type": "boolean"},
        },
    },
}
SERVER_PROPS: dict[str, Any] = {
    "code": {
        "type": ["string", "null"],
        "maxLength": 200_000,
        "description": "Python source of an MCPServer tool server",
    },
    "config": {
        "oneOf": [{"type": "object"}, {"type": "null"}],
        "description": "an external server: {command, args, env} or {url, headers}",
    },
    "description": {"type": ["string", "null"], "maxLength": 2000},
    "env": {"oneOf": [ENV, {"type": "null"}]},
    "sensitivity": {
        "oneOf": [{"type": "object", "additionalProperties": {"type": "boolean"}}, {"type": "null"}]
    },
}
SERVER_CREATE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        **SERVER_PROPS,
        "name": {"type": "string", "minLength": 1, "maxLength": 64},
        "enabled": {"type": "boolean"},
        "kind": {"enum": ["dynamic", "external", None]},
    },
}
SERVER_PATCH = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": SERVER_PROPS,
}
SETTINGS_BODY = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {
        "max_concurrent_runs": {"type": "integer", "minimum": 1, "maximum": 100},
        "default_model": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": NOT_BLANK},
        "default_timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400},
        "default_budget_usd": _nullable("number", exclusiveMinimum=0, maximum=1e9),
        "daily_budget_usd": _nullable("number", exclusiveMinimum=0, maximum=1e9),
        "allowed_builtin_tools": {
            "type": "array",
            "uniqueItems": True,
            "items": {"enum": list(BUILTIN_TOOLS)},
        },
        "sandbox_mode": {"enum": ["auto", "required", "off"]},
    },
}
RUN_STATES = ("requested", "claimed", "running", "succeeded", "failed", "timed_out",
              "cancelled", "crashed", "skipped")  # fmt: skip
TRIGGERS = ("schedule", "manual", "webhook", "retry", "quick", "mcp", "catch_up", "assistant")
