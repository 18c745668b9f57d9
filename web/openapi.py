"""The OpenAPI 3.1 description of ``/api/v1`` (hand-built; a test checks it covers every route).

The document is also the first gate of every API request (``web/api_input.py`` validates query
parameters and JSON bodies against it), so what it says is what the server enforces. Checks JSON
Schema cannot express (cron grammar, IANA zones, templates, tool-server code, names that must
exist) are the commands' and answer 422 naming the field; the operations that have them say so.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from runner.access import MAX_TOKEN_NAME
from web.openapi_schemas import (
    AFTER,
    DATE,
    ERROR,
    HOOK_CREATE,
    HOOK_PATCH,
    JOB_CREATE,
    JOB_PATCH,
    JOB_PROPS,
    LIMIT,
    NAME,
    NOT_BLANK,
    OBJ,
    PAGING,
    RUN_FIELDS,
    RUN_STATES,
    SERVER_CREATE,
    SERVER_PATCH,
    SETTINGS_BODY,
    TRIGGERS,
    query,
)

SEMANTIC = "x-semantic-checks"
"""Marks an operation whose body has checks JSON Schema cannot express (422 naming the field)."""

# (method, path, summary, tag, request body schema, extra parameters, success status)
Route = tuple[str, str, str, str, dict[str, Any] | None, list[dict[str, Any]], int]
ROUTES: list[Route] = [
    ("get", "/openapi.json", "This document", "meta", None, [], 200),
    ("get", "/health", "Actors, queue, CLI, auth mode, sandbox, database size", "meta", None, [],
     200),
    ("post", "/cron/preview", "Validate a cron expression and preview its next fires", "jobs",
     {"type": "object", "required": ["cron"], "properties": {
         "cron": {"type": "string", "minLength": 1, "maxLength": 200},
         "timezone": {"type": ["string", "null"], "maxLength": 64},
         "count": {"type": "integer", "minimum": 1, "maximum": 20}}}, [], 200),
    ("get", "/jobs", "List jobs", "jobs", None, PAGING, 200),
    ("post", "/jobs", "Create a job", "jobs", JOB_CREATE, [], 201),
    ("get", "/jobs/{job_id}", "Get a job", "jobs", None, [], 200),
    ("patch", "/jobs/{job_id}", "Change some fields of a job", "jobs", JOB_PATCH, [], 200),
    ("put", "/jobs/{job_id}", "Change some fields of a job (same as PATCH)", "jobs", JOB_PATCH,
     [], 200),
    ("delete", "/jobs/{job_id}", "Delete a job (cancels its queued and running runs)", "jobs",
     None, [], 200),
    ("post", "/jobs/{job_id}/pause", "Pause a job's schedule", "jobs", None, [], 200),
    ("post", "/jobs/{job_id}/resume", "Resume a job's schedule", "jobs", None, [], 200),
    ("post", "/jobs/{job_id}/run", "Run a job now", "jobs", None, [], 201),
    ("get", "/jobs/{job_id}/events", "The job's raw event stream (secrets masked)", "history",
     None, [LIMIT, *AFTER], 200),
    ("get", "/runs", "List runs (filter by job, state, trigger, date)", "runs", None,
     [*PAGING, *query("job_id", state={"enum": list(RUN_STATES)}, trigger={"enum": list(TRIGGERS)},
                   since=DATE, until=DATE)], 200),
    ("get", "/runs/{run_id}", "Get a run (cost is the CLI's estimate)", "runs", None, [], 200),
    ("get", "/runs/{run_id}/output", "A run's trace blocks", "runs", None,
     [*AFTER, {"name": "limit", "in": "query",
               "schema": {"type": "integer", "minimum": 1, "maximum": 5000}}], 200),
    ("get", "/runs/{run_id}/events", "The run's raw event stream (secrets masked)", "history",
     None, [LIMIT, *AFTER], 200),
    ("get", "/runs/{run_id}/stream", "Live trace as server-sent events (resume: Last-Event-ID)",
     "runs", None, AFTER, 200),
    ("post", "/runs/{run_id}/cancel", "Cancel (kill) a run", "runs",
     {"type": "object", "properties": {"reason": {"type": ["string", "null"]}}}, [], 200),
    ("post", "/runs/{run_id}/erase",
     "Erase a finished run's output and webhook body (recorded; the chain still verifies)",
     "runs", {"type": "object", "required": ["reason"], "additionalProperties": False,
              "properties": {"reason": {"type": "string", "maxLength": 500,
                                        "pattern": NOT_BLANK}}}, [], 200),
    ("post", "/runs/cancel", "Bulk cancel the queued (or running) runs of a job, webhook or "
     "trigger (name one, or all=true)", "runs", {
         "type": "object", "additionalProperties": False, "properties": {
             "job_id": {"type": "string", "maxLength": 300},
             "webhook_id": {"type": "string", "maxLength": 300},
             "trigger": {"type": "string", "maxLength": 50},
             "include_running": {"type": "boolean"}, "all": {"type": "boolean"},
             "reason": {"type": "string", "maxLength": 500}}}, [], 200),
    ("post", "/quick-run", "Run an ad-hoc prompt now", "runs",
     {"type": "object", "required": ["prompt"], "additionalProperties": False,
      "properties": {"prompt": JOB_PROPS["prompt"], **RUN_FIELDS,
                     "node_label": JOB_PROPS["node_label"]}}, [], 201),
    ("get", "/costs", "Cost and tokens per day, job or model (a range of 10 years at most)",
     "costs", None, query(group_by={"enum": ["day", "job", "model"]}, start=DATE, end=DATE), 200),
    ("get", "/settings", "Current settings", "settings", None, [], 200),
    ("put", "/settings", "Change settings", "settings", SETTINGS_BODY, [], 200),
    ("patch", "/settings", "Change settings (same as PUT)", "settings", SETTINGS_BODY, [], 200),
    ("get", "/events", "The raw log (or one stream), keyset-paged", "history", None,
     [LIMIT, *AFTER, *query("stream")], 200),
    ("get", "/tokens", "List API tokens (never the secret)", "access", None, [], 200),
    ("post", "/tokens", "Create an API token (shown once)", "access",
     {"type": "object", "required": ["name"], "properties": {
         "name": {**NAME, "maxLength": MAX_TOKEN_NAME}}}, [], 201),
    ("delete", "/tokens/{token_id}", "Revoke an API token", "access", None, [], 200),
    # Webhooks (blueprint in web/api_webhooks.py); the secret is shown on create and rotate.
    ("get", "/webhooks", "List webhooks", "webhooks", None, PAGING, 200),
    ("post", "/webhooks", "Create a webhook (secret shown once)", "webhooks", HOOK_CREATE, [],
     201),
    ("get", "/webhooks/{webhook_id}", "Get a webhook", "webhooks", None, [], 200),
    ("patch", "/webhooks/{webhook_id}", "Change a webhook", "webhooks", HOOK_PATCH, [], 200),
    ("post", "/webhooks/{webhook_id}/enable", "Enable a webhook", "webhooks", None, [], 200),
    ("post", "/webhooks/{webhook_id}/disable", "Disable a webhook", "webhooks", None, [], 200),
    ("post", "/webhooks/{webhook_id}/rotate-secret", "Rotate the secret (grace period)",
     "webhooks", {"type": "object", "properties": {
         "grace_seconds": {"type": "number", "minimum": 0, "maximum": 30 * 86400},
         "secret": {"type": ["string", "null"], "maxLength": 1000}}}, [], 200),
    ("delete", "/webhooks/{webhook_id}", "Delete a webhook", "webhooks", None, [], 200),
    ("get", "/webhooks/{webhook_id}/deliveries", "Deliveries received", "webhooks", None,
     PAGING, 200),
    ("get", "/webhooks/{webhook_id}/deliveries/{delivery_id}", "One delivery", "webhooks",
     None, [], 200),
    ("post", "/webhooks/{webhook_id}/deliveries/{delivery_id}/replay", "Replay a delivery",
     "webhooks", None, [], 202),
    ("get", "/webhooks/{webhook_id}/rejections", "Rejected deliveries", "webhooks", None,
     PAGING, 200),
    # Approvals (blueprint in web/approvals_pages.py): tool calls waiting for a person.
    ("get", "/approvals", "Tool calls waiting for approval", "approvals", None, query("run_id"),
     200),
    ("get", "/approvals/{approval_id}", "One approval request and its outcome", "approvals",
     None, [], 200),
    ("post", "/approvals/{approval_id}", "Approve or deny (with a message) a waiting call",
     "approvals", {"type": "object", "required": ["decision"], "properties": {
      "decision": {"enum": ["approved", "denied"]},
      "message": {"type": "string", "maxLength": 2000}}}, [], 200),
    # Tool servers (blueprint in web/api_servers.py); credential values go in, never out.
    ("get", "/servers", "List tool servers (status, tools, masked credentials)", "servers",
     None, [], 200),
    ("post", "/servers", "Create a Python (code) or external (config) server", "servers",
     SERVER_CREATE, [], 201),
    ("post", "/servers/import", "Import servers from a .mcp.json object or a plugin folder",
     "servers", {"type": "object", "anyOf": [{"required": ["mcp_json"]},
                                             {"required": ["plugin_path"]}],
                 "properties": {"mcp_json": OBJ, "plugin_path": {"type": "string"},
                                "prefix": {"type": ["string", "null"]}}}, [], 201),
    ("get", "/servers/{name}", "Get a server (code=1 adds its code)", "servers", None,
     query(code={"enum": ["0", "1", "true", "false", "yes", "no"]}), 200),
    ("patch", "/servers/{name}", "Change a server's code, config or description", "servers",
     SERVER_PATCH, [], 200),
    ("delete", "/servers/{name}", "Delete a server, its files and credentials", "servers",
     None, [], 200),
    ("post", "/servers/{name}/enable", "Enable a server", "servers", None, [], 200),
    ("post", "/servers/{name}/disable", "Disable a server", "servers", None, [], 200),
    ("post", "/servers/{name}/discover", "Start a server and list its tools", "servers", None,
     [], 200),
    ("get", "/servers/{name}/credentials", "A server's variables, values masked", "servers",
     None, [], 200),
    ("put", "/servers/{name}/credentials/{variable}", "Set a credential (stored encrypted)",
     "servers", {"type": "object", "required": ["value"], "properties": {
         "value": {"type": "string", "maxLength": 100_000}, "sensitive": {"type": "boolean"}}},
     [], 200),
    ("delete", "/servers/{name}/credentials/{variable}", "Delete a stored credential",
     "servers", None, [], 200),
    ("post", "/servers/{name}/tools/{tool}/invoke", "Call one tool once (recorded)", "servers",
     {"type": "object", "properties": {
         "arguments": {"type": ["object", "null"]},
         "timeout": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 86400}}},
     [], 200),
]  # fmt: skip

#: Operations with checks beyond the schema (a 422 names the field), and optional bodies.
SEMANTIC_OPS = frozenset({
    "post /cron/preview", "post /jobs", "patch /jobs/{job_id}", "put /jobs/{job_id}",
    "post /quick-run", "get /costs", "post /webhooks", "patch /webhooks/{webhook_id}",
    "post /webhooks/{webhook_id}/rotate-secret", "post /servers", "post /servers/import",
    "patch /servers/{name}", "put /servers/{name}/credentials/{variable}",
    "post /servers/{name}/tools/{tool}/invoke", "post /runs/cancel",
})  # fmt: skip
OPTIONAL_BODY = frozenset({
    "post /runs/{run_id}/cancel", "post /webhooks/{webhook_id}/rotate-secret",
    "post /servers/{name}/tools/{tool}/invoke", "post /runs/cancel",
})  # fmt: skip

#: Other success answers: an import that created nothing (every entry failed) is a 200.
EXTRA_SUCCESS = {"post /servers/import": (200, "Nothing was created; see errors")}

ERRORS = {
    "400": "Malformed request",
    "401": "Not signed in / bad token",
    "403": "CSRF token missing",
    "404": "Unknown id",
    "409": "Conflict",
    "413": "Body too large",
    "415": "The body is not JSON",
    "422": "Invalid input (see error.field); also a body that is not UTF-8 JSON nested at most "
    "32 deep",
    "429": "Too many requests from this address",
    "503": "The service is busy or its storage is failing; retry later",
}


def operation_id(method: str, path: str) -> str:
    """``get_jobs_job_id`` for ``GET /jobs/{job_id}``."""
    flat = path.strip("/").replace("/", "_").replace("{", "").replace("}", "")
    return f"{method}_{flat}".replace(".", "_").replace("-", "_")


@cache
def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, tag, req, params, status in ROUTES:
        key = f"{method} {path}"
        op: dict[str, Any] = {
            "summary": summary,
            "tags": [tag],
            "operationId": operation_id(method, path),
            "responses": {
                str(status): {"description": "OK", "content": {"application/json": {}}},
                **{
                    code: {
                        "description": text,
                        "content": {"application/json": {"schema": ERROR}},
                    }
                    for code, text in ERRORS.items()
                },
            },
        }
        if key in EXTRA_SUCCESS:
            code, text = EXTRA_SUCCESS[key]
            op["responses"][str(code)] = {
                "description": text,
                "content": {"application/json": {}},
            }
        names = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]
        op["parameters"] = [
            {"name": n, "in": "path", "required": True,
             "schema": {"type": "string", "minLength": 1, "maxLength": 300}}
            for n in names
        ] + params  # fmt: skip
        if req is not None:
            optional = key in OPTIONAL_BODY
            if optional:  # no body and a JSON null body mean the same: nothing given
                req = {**req, "type": ["object", "null"]}
            op["requestBody"] = {
                "required": not optional,
                "content": {"application/json": {"schema": req}},
            }
        if key in SEMANTIC_OPS:
            op[SEMANTIC] = True
            op["description"] = (
                "Some fields are checked beyond this schema (cron grammar, IANA zones, "
                "templates, server code, names that must exist); a 422 names the field."
            )
        if path.endswith("/stream"):
            op["responses"][str(status)]["content"] = {"text/event-stream": {}}
        paths.setdefault("/api/v1" + path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Claude Runner API",
            "version": "1",
            "description": "Every dashboard action. Authenticate with a session (plus the "
            "X-CSRF-Token header) or 'Authorization: Bearer <token>'. Costs are estimates. "
            "Query parameters and JSON bodies are checked against this document.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "runner_session"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "field": {"type": "string"},
                            },
                        }
                    },
                },
                "Page": {
                    "type": "object",
                    "properties": {
                        "items": {"type": "array"},
                        "limit": {"type": "integer"},
                        "offset": {"type": "integer"},
                        "total": {"type": "integer"},
                        "next_offset": {"type": ["integer", "null"]},
                        "next_cursor": {"type": ["string", "null"]},
                    },
                },
            },
        },
    }
