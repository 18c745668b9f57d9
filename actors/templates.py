"""The webhook prompt template: ``{{payload.a.b}}``, ``{{headers.x-github-event}}``, defaults.

Grammar of a placeholder (whitespace allowed around the parts)::

    {{ ROOT[.SEGMENT]* [| default: "text"] }}     ROOT = payload | headers | body
    {{ "text" }}                                   a literal, e.g. {{"{{"}} for literal braces

A numeric segment indexes a list. Strings render raw, everything else as JSON, a missing value as
``[missing: payload.x]`` unless a default is given. Rendering is one pass over the *template*:
text substituted from the payload is never scanned again, so a payload containing ``{{...}}``
cannot expand anything. Nothing is evaluated; the renderer never raises and bounds its output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from actors.untrusted import wrap

__all__ = [
    "DEFAULT_MAX_CHARS",
    "MAX_TEMPLATE_CHARS",
    "ROOTS",
    "RenderContext",
    "render",
    "validate_template",
]

DEFAULT_MAX_CHARS = 200_000
MAX_TEMPLATE_CHARS = 100_000
ROOTS = ("payload", "headers", "body")

_OPEN, _CLOSE = "{{", "}}"
_STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\''
_PATH = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_-]*)((?:\.[^.\s|{}\"']+)*)\s*(?:\|(.*))?", re.S)
_DEFAULT = re.compile(rf"\s*default\s*:\s*({_STRING})\s*", re.S)
_LITERAL = re.compile(rf"\s*({_STRING})\s*", re.S)
_MISSING = object()


@dataclass(frozen=True, slots=True)
class _Placeholder:
    root: str
    path: tuple[str, ...]
    default: str | None
    literal: str | None = None

    @property
    def name(self) -> str:
        return ".".join((self.root, *self.path))


class RenderContext:
    """What a template can see: the body (parsed when it is JSON) and the headers."""

    def __init__(self, body: bytes | str, headers: Mapping[str, str] | None = None) -> None:
        self.body_text = (
            body.decode("utf-8", "replace") if isinstance(body, bytes | bytearray) else str(body)
        )
        self.headers = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
        self.payload: Any
        self.body_is_json: bool
        try:
            self.payload = json.loads(self.body_text)
            self.body_is_json = True
        except (ValueError, RecursionError):
            self.payload = self.body_text
            self.body_is_json = False
        self._cache: dict[str, tuple[str, str]] = {}

    def lookup(self, root: str, path: tuple[str, ...]) -> Any:
        """The value at *root.path*, or a sentinel when missing."""
        value: Any
        if root == "payload":
            value = self.payload
        elif root == "headers":
            if path:
                return self.headers.get(path[0].lower(), _MISSING) if len(path) == 1 else _MISSING
            return self.headers
        else:
            return self.body_text if not path else _MISSING
        for segment in path:
            if isinstance(value, dict):
                value = value.get(segment, _MISSING)
            elif isinstance(value, list) and segment.isascii() and segment.isdigit():
                index = int(segment)
                value = value[index] if index < len(value) else _MISSING
            else:
                return _MISSING
            if value is _MISSING:
                return _MISSING
        return value

    def text(self, placeholder: _Placeholder) -> str:
        """The rendered text of *placeholder* (lookups cached per name)."""
        if placeholder.literal is not None:
            return placeholder.literal
        key = placeholder.name
        cached = self._cache.get(key)
        if cached is None:
            value = self.lookup(placeholder.root, placeholder.path)
            if value is _MISSING:
                cached = ("missing", "")
            elif value is None:
                cached = ("null", "null")
            else:
                cached = ("value", _stringify(value, key))
            self._cache[key] = cached
        state, text = cached
        if state == "value" or (state == "null" and placeholder.default is None):
            return text
        return placeholder.default if placeholder.default is not None else f"[missing: {key}]"


def _stringify(value: Any, name: str) -> str:
    if isinstance(value, str):
        return value
    try:
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False, indent=2)
        return json.dumps(value, ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):
        return f"[unrenderable: {name}]"


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r"\\(.)", r"\1", body, flags=re.S)


def _parse(inner: str) -> _Placeholder | str:
    """A placeholder, or an error message."""
    lit = _LITERAL.fullmatch(inner)
    if lit:
        return _Placeholder(root="", path=(), default=None, literal=_unquote(lit.group(1)))
    shown = _OPEN + inner.strip()[:60] + _CLOSE
    match = _PATH.fullmatch(inner)
    if not match:
        return f"'{shown}' is not a valid placeholder"
    root, dotted, filt = match.group(1), match.group(2), match.group(3)
    if root not in ROOTS:
        return f"unknown name '{root}' in '{shown}' (use payload, headers or body)"
    path = tuple(dotted.split(".")[1:]) if dotted else ()
    default: str | None = None
    if filt is not None:
        dmatch = _DEFAULT.fullmatch(filt)
        if not dmatch:
            return f"unknown filter in '{shown}' (only: default: \"text\")"
        default = _unquote(dmatch.group(1))
    return _Placeholder(root=root, path=path, default=default)


def _tokens(template: str) -> Iterator[tuple[int, str, _Placeholder | str | None]]:
    """Yield ``(position, raw_text, parsed)``: parsed is None for plain text, a placeholder, or an
    error string for a malformed tag (whose raw text is then kept verbatim)."""
    pos, size = 0, len(template)
    while pos < size:
        start = template.find(_OPEN, pos)
        if start < 0:
            yield pos, template[pos:], None
            return
        while template.startswith(_OPEN, start + 1):  # "{{{x}}": the tag is the last "{{"
            start += 1
        if start > pos:
            yield pos, template[pos:start], None
        end = template.find(_CLOSE, start + 2)
        if end < 0:
            yield start, template[start:], f"unclosed '{{{{' at position {start}"
            return
        nested = template.find(_OPEN, start + 2, end)
        if nested >= 0 and not _LITERAL.fullmatch(
            template, start + 2, end
        ):  # "{{a {{b}}": the first tag was never closed
            yield start, template[start:nested], f"unclosed '{{{{' at position {start}"
            pos = nested
            continue
        raw = template[start : end + 2]
        yield start, raw, _parse(template[start + 2 : end])
        pos = end + 2


def render(
    template: str,
    body: bytes | str | RenderContext,
    headers: Mapping[str, str] | None = None,
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    mark_untrusted: bool = False,
) -> str:
    """Render *template* against a delivery. Never raises; output is at most about *max_chars*
    characters (longer output is cut and ends with a ``[truncated …]`` marker). With
    ``mark_untrusted`` every value from the delivery is a delimited block (``actors.untrusted``)."""
    ctx = body if isinstance(body, RenderContext) else RenderContext(body, headers)
    parts: list[str] = []
    length = 0
    for _pos, raw, parsed in _tokens(template):
        piece = ctx.text(parsed) if isinstance(parsed, _Placeholder) else raw
        if mark_untrusted and isinstance(parsed, _Placeholder) and parsed.literal is None:
            piece = wrap(piece, parsed.name)
        if length + len(piece) > max_chars:
            parts.append(piece[: max(0, max_chars - length)])
            parts.append(f"\n[truncated: output exceeded {max_chars} characters]")
            break
        parts.append(piece)
        length += len(piece)
    return "".join(parts)


def validate_template(template: str) -> list[str]:
    """Errors to show on the create form: unclosed ``{{``, unknown names, bad filters."""
    errors: list[str] = []
    if not template.strip():
        errors.append("the prompt template is empty")
    if len(template) > MAX_TEMPLATE_CHARS:
        errors.append(f"the prompt template is longer than {MAX_TEMPLATE_CHARS} characters")
        return errors
    for _pos, _raw, parsed in _tokens(template):
        if isinstance(parsed, str):
            errors.append(parsed)
        elif isinstance(parsed, _Placeholder) and parsed.root in ("headers", "body"):
            if parsed.root == "body" and parsed.path:
                errors.append(f"'{parsed.name}': body has no fields; use payload.…")
            elif len(parsed.path) > 1:
                errors.append(f"'{parsed.name}': a header is a single name, e.g. headers.x-event")
    return errors
