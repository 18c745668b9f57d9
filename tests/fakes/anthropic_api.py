"""A scripted local Anthropic Messages API for tests and benchmarks (stdlib, background thread).

Each request is answered by the next *step* of a script. The script is chosen by a marker
``[[script:NAME]]`` anywhere in the user messages (else the default script), and the step by a
per-conversation cursor (conversation = the ``X-Claude-Code-Session-Id`` header), so a retry
of the same turn gets the next step: ``[Error(529, "overloaded_error"), Text("hi")]`` answers the
first attempt with 529 and the retry with text. Every request is recorded.

    with FakeAnthropicAPI() as api:
        api.script("add", [ToolUse("mcp__demo__add", {"a": 2, "b": 3}), Text("5")])
        env = {"ANTHROPIC_BASE_URL": api.base_url, ...}
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

SCRIPT_MARKER = re.compile(r"\[\[script:([A-Za-z0-9_.-]+)\]\]")


@dataclass(frozen=True)
class Text:
    """A text block; ``chunk`` splits it into several ``text_delta`` events."""

    text: str
    chunk: int = 200


@dataclass(frozen=True)
class Thinking:
    thinking: str
    signature: str = "sig-fake"


@dataclass(frozen=True)
class ToolUse:
    name: str
    input: dict[str, Any]
    id: str | None = None


Block = Text | Thinking | ToolUse


@dataclass(frozen=True)
class Turn:
    """One assistant message made of several blocks, with its usage and pacing."""

    blocks: Sequence[Block]
    input_tokens: int = 120
    output_tokens: int = 20
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    delay: float = 0.0
    """Seconds to sleep before each SSE event (slow streams for cancel/timeout tests)."""


@dataclass(frozen=True)
class Error:
    """An HTTP error reply, e.g. ``Error(529, "overloaded_error")``."""

    status: int
    type: str
    message: str = "scripted error"
    retry_after: str | None = "0"


def Flood(chars: int, *, chunk: int = 8000) -> Turn:
    """A turn with one huge text block, for output-cap tests."""
    return Turn([Text("x" * chars, chunk=chunk)], output_tokens=max(1, chars // 4))


Step = Turn | Error | Text | Thinking | ToolUse


def as_turn(step: Step) -> Turn | Error:
    if isinstance(step, Turn | Error):
        return step
    return Turn([step])


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    script: str
    step: int
    status: int = 200

    @property
    def user_texts(self) -> list[str]:
        return list(_texts(self.body or {}))


@dataclass
class _State:
    scripts: dict[str, list[Turn | Error]] = field(default_factory=dict)
    cursors: dict[tuple[str, str], int] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)


def _texts(body: dict[str, Any]) -> Iterator[str]:
    for msg in body.get("messages") or ():
        if not isinstance(msg, dict) or msg.get("role") != "user":
            continue
        content = msg.get("content")
        if isinstance(content, str):
            yield content
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    yield part["text"]


class FakeAnthropicAPI:
    """The server. Use as a context manager or call ``start()``/``stop()``."""

    def __init__(self, *, default: Sequence[Step] = (Text("ok"),), model_prefix: str = "claude-"):
        self._state = _State()
        self.script("default", default)
        self.model_prefix = model_prefix
        """Models not starting with this get a 404 ``not_found_error`` (a bad model name)."""
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting and inspection --------------------------------------------------------
    def script(self, name: str, steps: Sequence[Step]) -> str:
        """Register ``steps`` under ``name``; returns the marker to put in a prompt."""
        with self._state.lock:
            self._state.scripts[name] = [as_turn(s) for s in steps]
            for key in [k for k in self._state.cursors if k[0] == name]:
                del self._state.cursors[key]
        return f"[[script:{name}]]"

    @property
    def requests(self) -> list[Recorded]:
        with self._state.lock:
            return list(self._state.requests)

    def requests_for(self, script: str) -> list[Recorded]:
        return [r for r in self.requests if r.script == script]

    def env(self, *, api_key: str = "fake-key", max_retries: int = 1) -> dict[str, str]:
        """The CLI environment that points it here and keeps it offline."""
        return {
            "ANTHROPIC_BASE_URL": self.base_url,
            "ANTHROPIC_API_KEY": api_key,
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "DISABLE_AUTOUPDATER": "1",
            "CLAUDE_CODE_MAX_RETRIES": str(max_retries),
        }

    @property
    def base_url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeAnthropicAPI:
        state, prefix = self._state, self.model_prefix

        class Handler(_Handler):
            pass

        Handler.state = state
        Handler.model_prefix = prefix
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="fake-anthropic"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeAnthropicAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- used by the handler ---------------------------------------------------------------
    @staticmethod
    def pick(state: _State, body: dict[str, Any], conv: str) -> tuple[str, int, Turn | Error]:
        name = "default"
        for text in _texts(body):
            if m := SCRIPT_MARKER.search(text):
                name = m.group(1)
                break
        with state.lock:
            steps = state.scripts.get(name) or state.scripts["default"]
            idx = state.cursors.get((name, conv), 0)
            state.cursors[(name, conv)] = idx + 1
        step = steps[idx] if idx < len(steps) else Turn([Text("(script exhausted)")])
        return name, idx, step


class _Handler(BaseHTTPRequestHandler):
    state: _State
    model_prefix: str
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _record(self, body: dict[str, Any] | None, script: str, step: int, status: int) -> None:
        rec = Recorded(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            script=script,
            step=step,
            status=status,
        )
        with self.state.lock:
            self.state.requests.append(rec)

    def _json(
        self, status: int, payload: dict[str, Any], extra: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", f"req_fake_{time.monotonic_ns()}")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_HEAD(self) -> None:
        self._record(None, "", -1, 404)
        self.send_response(404)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self._record(None, "", -1, 404)
        self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": "nope"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        path = self.path.split("?", 1)[0]
        if path == "/v1/messages/count_tokens":
            self._record(body, "", -1, 200)
            self._json(200, {"input_tokens": 100})
            return
        if path != "/v1/messages":
            self._record(body, "", -1, 404)
            self._json(
                404, {"type": "error", "error": {"type": "not_found_error", "message": path}}
            )
            return
        model = str(body.get("model") or "")
        conv = self.headers.get("x-claude-code-session-id") or "-"
        name, idx, step = FakeAnthropicAPI.pick(self.state, body, conv)
        if not model.startswith(self.model_prefix):
            self._record(body, name, idx, 404)
            err = {"type": "not_found_error", "message": f"model: {model}"}
            self._json(404, {"type": "error", "error": err})
            return
        if isinstance(step, Error):
            self._record(body, name, idx, step.status)
            extra = {"retry-after": step.retry_after} if step.retry_after is not None else {}
            err = {"type": step.type, "message": step.message}
            self._json(step.status, {"type": "error", "error": err}, extra)
            return
        self._record(body, name, idx, 200)
        msg_id = f"msg_fake_{next(self.state.ids)}"
        events = list(sse_events(step, msg_id=msg_id, model=model))
        if body.get("stream"):
            self._stream(events, step.delay)
        else:
            self._json(200, final_message(events))

    def _stream(self, events: list[dict[str, Any]], delay: float) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("request-id", f"req_fake_{time.monotonic_ns()}")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for ev in events:
                if delay:
                    time.sleep(delay)
                chunk = f"event: {ev['type']}\ndata: {json.dumps(ev)}\n\n".encode()
                self.wfile.write(chunk)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def fake_anthropic_api() -> Iterator[FakeAnthropicAPI]:
    """A started fake for one test; import it into a ``conftest.py`` to use it anywhere."""
    with FakeAnthropicAPI() as api:
        yield api


def sse_events(turn: Turn, *, msg_id: str, model: str) -> Iterator[dict[str, Any]]:
    """The streaming events of one assistant message, as the real API sends them."""
    usage = {
        "input_tokens": turn.input_tokens,
        "output_tokens": 1,
        "cache_creation_input_tokens": turn.cache_creation_input_tokens,
        "cache_read_input_tokens": turn.cache_read_input_tokens,
    }
    message: dict[str, Any] = {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    yield {"type": "message_start", "message": message}
    stop = "end_turn"
    for i, block in enumerate(turn.blocks):
        if isinstance(block, Text):
            yield _start(i, {"type": "text", "text": ""})
            step = max(1, block.chunk)
            for j in range(0, max(1, len(block.text)), step):
                delta = {"type": "text_delta", "text": block.text[j : j + step]}
                yield {"type": "content_block_delta", "index": i, "delta": delta}
        elif isinstance(block, Thinking):
            yield _start(i, {"type": "thinking", "thinking": "", "signature": ""})
            delta = {"type": "thinking_delta", "thinking": block.thinking}
            yield {"type": "content_block_delta", "index": i, "delta": delta}
            sig = {"type": "signature_delta", "signature": block.signature}
            yield {"type": "content_block_delta", "index": i, "delta": sig}
        else:
            stop = "tool_use"
            tid = block.id or f"toolu_{msg_id}_{i}"
            yield _start(i, {"type": "tool_use", "id": tid, "name": block.name, "input": {}})
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block.input)}
            yield {"type": "content_block_delta", "index": i, "delta": delta}
        yield {"type": "content_block_stop", "index": i}
    yield {
        "type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": None},
        "usage": {"output_tokens": turn.output_tokens},
    }
    yield {"type": "message_stop"}


def _start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def final_message(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Fold streaming events into the non-streaming reply."""
    msg: dict[str, Any] = dict(events[0]["message"])
    blocks: list[dict[str, Any]] = []
    partial: dict[int, str] = {}
    for ev in events[1:]:
        if ev["type"] == "content_block_start":
            blocks.append(dict(ev["content_block"]))
        elif ev["type"] == "content_block_delta":
            d, b = ev["delta"], blocks[ev["index"]]
            if d["type"] == "text_delta":
                b["text"] += d["text"]
            elif d["type"] == "thinking_delta":
                b["thinking"] += d["thinking"]
            elif d["type"] == "signature_delta":
                b["signature"] = d["signature"]
            else:
                partial[ev["index"]] = partial.get(ev["index"], "") + d["partial_json"]
        elif ev["type"] == "message_delta":
            msg["stop_reason"] = ev["delta"]["stop_reason"]
            msg["usage"] = {**msg["usage"], **ev["usage"]}
    for i, js in partial.items():
        blocks[i]["input"] = json.loads(js or "{}")
    msg["content"] = blocks
    return msg
