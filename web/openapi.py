"""The OpenAPI 3.1 description of ``/api/v1`` (hand-built; a test checks it covers every route)."""

from __future__ import annotations

from functools import cache
from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}
OBJ: dict[str, Any] = {"type": "object"}
PAGE = {"$ref": "#/components/schemas/Page"}
PAGING = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
]
AFTER = [{"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0}}]


def _q(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "query", "schema": {"type": "string"}} for n in names]


JOB_BODY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 200},
        "prompt": {"type": "string", "maxLength": 100000},
        "cron": {"type": ["string", "null"], "examples": ["0 7 * * 1-5"]},
        "timezone": {"type": "string", "examples": ["Europe/Brussels"]},
        "enabled": {"type": "boolean"},
        "model": {"type": ["string", "null"]},
        "tools": {"type": "array", "items": {"type": "string"}},
        "mcp_servers": {"type": "array", "items": {"type": "string"}},
        "timeout_seconds": {"type": ["number", "null"]},
        "max_turns": {"type": ["integer", "null"]},
        "budget_usd": {"type": ["number", "null"]},
        "retry": OBJ,
        "overlap": {"enum": ["skip", "buffer_one", "allow", "cancel_previous"]},
        "catch_up": {"enum": ["skip", "latest", "all"]},
        "catch_up_window_seconds": {"type": "number"},
        "ask_first": {
            "type": "array",
            "items": {"type": "string"},
            "maxItems": 50,
            "examples": [["mcp__email__send"]],
        },
        "ask_first_writes": {"type": ["boolean", "null"]},
        "approval_timeout_seconds": {"type": ["number", "null"], "maximum": 604800},
        "approval_on_timeout": {"enum": ["deny_and_continue", "fail_run"]},
    },
}

# (method, path, summary, tag, request body schema, extra parameters, success status)
ROUTES: list[tuple[str, str, str, str, dict[str, Any] | None, list[dict[str, Any]], int]] = [
    ("get", "/openapi.json", "This document", "meta", None, [], 200),
    ("get", "/health", "Actors, queue, CLI, auth mode, sandbox, database size", "meta", None, [],
     200),
    ("post", "/cron/preview", "Validate a cron expression and preview its next fires", "jobs",
     {"type": "object", "required": ["cron"], "properties": {"cron": {"type": "string"},
      "timezone": {"type": "string"}, "count": {"type": "integer"}}}, [], 200),
    ("get", "/jobs", "List jobs", "jobs", None, PAGING, 200),
    ("post", "/jobs", "Create a job", "jobs", {**JOB_BODY, "required": ["name", "prompt"]}, [],
     201),
    ("get", "/jobs/{job_id}", "Get a job", "jobs", None, [], 200),
    ("patch", "/jobs/{job_id}", "Change some fields of a job", "jobs",
     {**JOB_BODY, "properties": {**JOB_BODY["properties"],
      "expected_version": {"type": "integer"}}}, [], 200),
    ("put", "/jobs/{job_id}", "Change some fields of a job (same as PATCH)", "jobs", JOB_BODY,
     [], 200),
    ("delete", "/jobs/{job_id}", "Delete a job (cancels its queued and running runs)", "jobs",
     None, [], 200),
    ("post", "/jobs/{job_id}/pause", "Pause a job's schedule", "jobs", None, [], 200),
    ("post", "/jobs/{job_id}/resume", "Resume a job's schedule", "jobs", None, [], 200),
    ("post", "/jobs/{job_id}/run", "Run a job now", "jobs", None, [], 201),
    ("get", "/jobs/{job_id}/events", "The job's raw event stream (secrets masked)", "history",
     None, PAGING[:1] + AFTER, 200),
    ("get", "/runs", "List runs (filter by job, state, trigger, date)", "runs", None,
     PAGING + _q("job_id", "state", "trigger", "since", "until"), 200),
    ("get", "/runs/{run_id}", "Get a run (cost is the CLI's estimate)", "runs", None, [], 200),
    ("get", "/runs/{run_id}/output", "A run's trace blocks", "runs", None,
     [*AFTER, {"name": "limit", "in": "query", "schema": {"type": "integer"}}], 200),
    ("get", "/runs/{run_id}/events", "The run's raw event stream (secrets masked)", "history",
     None, PAGING[:1] + AFTER, 200),
    ("get", "/runs/{run_id}/stream", "Live trace as server-sent events (resume: Last-Event-ID)",
     "runs", None, AFTER, 200),
    ("post", "/runs/{run_id}/cancel", "Cancel (kill) a run", "runs",
     {"type": "object", "properties": {"reason": {"type": "string"}}}, [], 200),
    ("post", "/quick-run", "Run an ad-hoc prompt now", "runs",
     {"type": "object", "required": ["prompt"], "properties": {
         k: JOB_BODY["properties"][k] for k in ("prompt", "tools", "mcp_servers", "model",
                                                "timeout_seconds", "max_turns", "budget_usd")}},
     [], 201),
    ("get", "/costs", "Cost and tokens per day, job or model", "costs", None,
     _q("group_by", "start", "end"), 200),
    ("get", "/settings", "Current settings", "settings", None, [], 200),
    ("put", "/settings", "Change settings", "settings", OBJ, [], 200),
    ("patch", "/settings", "Change settings (same as PUT)", "settings", OBJ, [], 200),
    ("get", "/events", "The raw log (or one stream), keyset-paged", "history", None,
     PAGING[:1] + AFTER + _q("stream"), 200),
    ("get", "/tokens", "List API tokens (never the secret)", "access", None, [], 200),
    ("post", "/tokens", "Create an API token (shown once)", "access",
     {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}, [],
     201),
    ("delete", "/tokens/{token_id}", "Revoke an API token", "access", None, [], 200),
    # Webhooks (blueprint in web/api_webhooks.py); the secret is shown on create and rotate.
    ("get", "/webhooks", "List webhooks", "webhooks", None, PAGING, 200),
    ("post", "/webhooks", "Create a webhook (secret shown once)", "webhooks", OBJ, [], 201),
    ("get", "/webhooks/{webhook_id}", "Get a webhook", "webhooks", None, [], 200),
    ("patch", "/webhooks/{webhook_id}", "Change a webhook", "webhooks", OBJ, [], 200),
    ("post", "/webhooks/{webhook_id}/enable", "Enable a webhook", "webhooks", None, [], 200),
    ("post", "/webhooks/{webhook_id}/disable", "Disable a webhook", "webhooks", None, [], 200),
    ("post", "/webhooks/{webhook_id}/rotate-secret", "Rotate the secret (grace period)",
     "webhooks", OBJ, [], 200),
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
    ("get", "/approvals", "Tool calls waiting for approval", "approvals", None, _q("run_id"),
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
    ("post", "/servers", "Create a Python (code) or external (config) server", "servers", OBJ,
     [], 201),
    ("post", "/servers/import", "Import servers from a .mcp.json object or a plugin folder",
     "servers", OBJ, [], 201),
    ("get", "/servers/{name}", "Get a server (code=1 adds its code)", "servers", None,
     _q("code"), 200),
    ("patch", "/servers/{name}", "Change a server's code, config or description", "servers",
     OBJ, [], 200),
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
         "value": {"type": "string"}, "sensitive": {"type": "boolean"}}}, [], 200),
    ("delete", "/servers/{name}/credentials/{variable}", "Delete a stored credential",
     "servers", None, [], 200),
    ("post", "/servers/{name}/tools/{tool}/invoke", "Call one tool once (recorded)", "servers",
     {"type": "object", "properties": {"arguments": {"type": "object"},
                                       "timeout": {"type": "number"}}}, [], 200),
]  # fmt: skip

ERRORS = {
    "400": "Malformed request",
    "401": "Not signed in / bad token",
    "403": "CSRF token missing",
    "404": "Unknown id",
    "409": "Conflict",
    "413": "Body too large",
    "422": "Invalid input (see error.field)",
}


@cache
def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, tag, req, params, status in ROUTES:
        op: dict[str, Any] = {
            "summary": summary,
            "tags": [tag],
            "operationId": f"{method}_{path.strip('/').replace('/', '_').replace('{', '')}".replace(
                "}", ""
            )
            .replace(".", "_")
            .replace("-", "_"),
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
        names = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]
        op["parameters"] = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
        ] + params
        if req is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": req}}}
        if path.endswith("/stream"):
            op["responses"][str(status)]["content"] = {"text/event-stream": {}}
        paths.setdefault("/api/v1" + path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Claude Runner API",
            "version": "1",
            "description": "Every dashboard action. Authenticate with a session (plus the "
            "X-CSRF-Token header) or 'Authorization: Bearer <token>'. Costs are estimates.",
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
                    },
                },
            },
        },
    }
