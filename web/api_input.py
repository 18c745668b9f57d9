"""The first gate of ``/api/v1``: query parameters and JSON bodies checked against the document.

``check`` runs before every API view (after the auth guard). It decodes the body once, safely
(UTF-8 only, nesting bounded, no ``RecursionError``), validates query parameters and body against
the operation's schema in :func:`web.openapi.openapi_document`, and answers 415/422 naming the
field; views read the decoded body with :func:`json_body`. So the document is what is enforced.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import msgspec
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match
from quart import Response, g, request

from runner.errors import CommandError, InvalidInput
from web.openapi import openapi_document

_INTEGER = re.compile(r"-?[0-9]{1,40}")
MAX_DEPTH = 32
"""JSON nested deeper than this is refused (400) before any code walks it."""
_NO_BODY = object()


class BadRequest(InvalidInput):
    """The body cannot be read at all (not UTF-8, not JSON, nested too deeply): 422."""


class NotJSON(CommandError):
    """A body sent with a content type other than JSON."""

    status = 415
    code = "unsupported_media_type"


def _depth_ok(raw: bytes) -> bool:
    """True when brackets nest at most ``MAX_DEPTH`` deep (strings skipped; no recursion)."""
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > MAX_DEPTH:
                return False
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return True


def decode_json(raw: bytes) -> Any:
    """Decode a JSON body or raise a 400 that says what is wrong with it."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the body is not UTF-8 (byte {exc.start}): send JSON in UTF-8")
    if not _depth_ok(raw):
        raise BadRequest(f"the JSON body is nested more than {MAX_DEPTH} levels deep")
    try:
        return msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}")


async def _raw() -> bytes:
    data = await request.get_data(as_text=False)
    return data if isinstance(data, bytes) else data.encode()


async def json_body() -> dict[str, Any]:
    """The request's JSON object ({} when there is none), decoded once."""
    data = g.get("api_body", _NO_BODY)
    if data is _NO_BODY:
        raw = await _raw()
        data = decode_json(raw) if raw.strip() else None
        g.api_body = data
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    return data


@cache
def _operations() -> dict[tuple[str, str], dict[str, Any]]:
    doc = openapi_document()
    return {
        (method.upper(), path): op
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
    }


_validators: dict[int, tuple[dict[str, Any], Draft202012Validator]] = {}


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    """One compiled validator per schema object of the (cached, never freed) document."""
    found = _validators.get(id(schema))
    if found is None or found[0] is not schema:
        found = _validators[id(schema)] = (
            schema,
            Draft202012Validator(schema, format_checker=FormatChecker()),
        )
    return found[1]


def _validate(schema: dict[str, Any], value: Any, field: str | None) -> None:
    error: ValidationError | None = best_match(_validator(schema).iter_errors(value))
    if error is None:
        return
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [p for p in error.validator_value if p not in error.instance]
        path += missing[:1]
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set((error.schema or {}).get("properties", {}))
        path += [p for p in error.instance if p not in known][:1]
    name = ".".join(p for p in (field, *path) if p) or None
    message = error.message if len(error.message) <= 300 else error.message[:300] + "…"
    raise InvalidInput(f"{name or 'body'}: {message}", field=name)


def _query_value(schema: dict[str, Any], name: str, raw: str) -> Any:
    if schema.get("type") == "integer":
        text = raw.strip()
        if not _INTEGER.fullmatch(text):
            raise InvalidInput(f"{name} must be a whole number, got {raw[:40]!r}", field=name)
        return int(text)
    return raw


@cache
def _path_patterns() -> list[tuple[re.Pattern[str], str, tuple[str, ...]]]:
    """Document paths as regexes, most literal first (``/servers/import`` before ``{name}``)."""
    out: list[tuple[re.Pattern[str], str, tuple[str, ...], int]] = []
    for path, ops in openapi_document()["paths"].items():
        regex = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path))
        literal = sum(1 for seg in path.split("/") if seg and not seg.startswith("{"))
        methods = tuple(m.upper() for m in ops)
        out.append((re.compile(regex), path, methods, literal))
    out.sort(key=lambda item: -item[3])
    return [(rx, path, methods) for rx, path, methods, _ in out]


def allowed_methods(path: str) -> list[str] | None:
    """The methods the document gives ``path`` (plus HEAD with GET, and OPTIONS), or None."""
    for rx, _, methods in _path_patterns():
        if rx.fullmatch(path):
            extra = ["HEAD"] if "GET" in methods else []
            return sorted({*methods, *extra, "OPTIONS"})
    return None


def _operation() -> dict[str, Any] | None:
    rule = request.url_rule
    if rule is None:
        return None
    path = rule.rule.replace("<", "{").replace(">", "}")
    return _operations().get((request.method, path))


async def check() -> Response | None:
    """``before_request``: refuse what the document does not allow (400/415/422)."""
    if not request.path.startswith("/api/"):
        return None
    if request.method == "OPTIONS":
        allowed = allowed_methods(request.path)
        if allowed is not None:
            return Response("", 204, headers={"Allow": ", ".join(allowed)})
    op = _operation()
    if op is None:
        return None
    for param in op.get("parameters", ()):
        if param["in"] == "path":
            _validate(param["schema"], (request.view_args or {}).get(param["name"]), param["name"])
            continue
        if param["in"] != "query":
            continue
        name = param["name"]
        values = request.args.getlist(name)
        if not values:
            continue
        if len(values) > 1:
            raise InvalidInput(f"give {name} once", field=name)
        _validate(param["schema"], _query_value(param["schema"], name, values[0]), name)
    body = op.get("requestBody")
    if body is None:
        return None
    raw = await _raw()
    if raw.strip():
        mimetype = request.mimetype or ""
        if mimetype and mimetype != "application/json" and not mimetype.endswith("+json"):
            raise NotJSON(f"send the body as application/json, not {mimetype}")
    data = decode_json(raw) if raw.strip() else None
    g.api_body = data
    if data is None:  # no body, or JSON null: the same as none
        if body.get("required"):
            raise InvalidInput("a JSON object body is required")
        return None
    _validate(body["content"]["application/json"]["schema"], data, None)
    return None
