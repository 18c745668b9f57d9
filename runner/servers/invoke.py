"""Call one tool on one server through a real MCP client, with only that server's env."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import anyio
import msgspec

from runner.servers.discovery import failure_reason
from runner.servers.launch import Launch, StdioLaunch
from runner.servers.session import (
    missing_file_reason,
    new_errlog,
    open_session,
    redact,
    redact_value,
    stderr_tail,
)

INVOKE_TIMEOUT = 60.0
MAX_TEXT_CHARS = 100_000


class Invocation(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of one tool call; every string in it has the server's secrets redacted.

    ``ok`` is false when the server could not be reached (``error`` says why) or the tool
    reported an error (``is_error``; its message is in ``text``).
    """

    ok: bool
    is_error: bool = False
    text: str = ""
    structured: Any = None
    error: str | None = None
    duration_ms: int = 0

    def summary(self, limit: int = 200) -> str:
        """A short line for ``ToolInvoked.summary``."""
        base = self.error or self.text or ("" if self.structured is None else str(self.structured))
        line = " ".join(base.split())
        return line if len(line) <= limit else line[: limit - 1] + "…"


def _content_text(blocks: Any) -> str:
    parts: list[str] = []
    for block in blocks or ():
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(str(getattr(block, "text", "")))
        elif kind in ("image", "audio"):
            mime = getattr(block, "mime_type", "") or kind
            parts.append(f"[{kind} {mime}, {len(getattr(block, 'data', '') or '')} base64 chars]")
        elif kind == "resource_link":
            parts.append(f"[resource {getattr(block, 'uri', '')}]")
        elif kind == "resource":
            res = getattr(block, "resource", None)
            parts.append(str(getattr(res, "text", None) or f"[resource {getattr(res, 'uri', '')}]"))
        else:
            parts.append(f"[{kind or type(block).__name__}]")
    text = "\n".join(parts)
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS] + "\n… (truncated)"
    return text


def _json_object(text: str) -> dict[str, Any] | None:
    """A tool's text that is one JSON object (servers without an output schema send that)."""
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


async def invoke_tool(
    launch: Launch,
    tool: str,
    arguments: Mapping[str, Any] | None = None,
    *,
    time_limit: float = INVOKE_TIMEOUT,
) -> Invocation:
    """Start the server, call ``tool`` with ``arguments`` and stop the server again.

    The server's code runs only in its child process (stdio) or remotely (HTTP); the child
    sees the MCP SDK's safe defaults (HOME, PATH, USER, ...) plus ``launch.env`` and nothing
    else of this process. ``time_limit`` bounds start-up and the call together. Never raises for
    a misbehaving server.
    """
    started = time.monotonic()
    secrets = launch.secrets
    what = "server" if isinstance(launch, StdioLaunch) else f"server at {launch.url}"
    with new_errlog() as errlog:
        try:
            with anyio.fail_after(time_limit):
                async with open_session(launch, errlog) as client:
                    result = await client.call_tool(tool, dict(arguments or {}))
        except TimeoutError:
            reason = f"tool {tool!r} did not answer within {time_limit:g} s"
        except FileNotFoundError as exc:
            reason = missing_file_reason(what, launch, exc)
        except Exception as exc:
            reason = failure_reason(what, exc)
        else:
            is_error = bool(result.is_error)
            text = _content_text(result.content)
            structured = result.structured_content
            if structured is None and not is_error:
                structured = _json_object(text)
            return Invocation(
                ok=not is_error,
                is_error=is_error,
                text=redact(text, secrets),
                structured=redact_value(structured, secrets),
                duration_ms=int((time.monotonic() - started) * 1000),
            )
        tail = stderr_tail(errlog, secrets)
    error = redact(reason, secrets)
    if tail:
        error = f"{error}\n--- server stderr (last lines) ---\n{tail}"
    return Invocation(ok=False, error=error, duration_ms=int((time.monotonic() - started) * 1000))
