"""Usage of one model reply, read from the bytes as they pass (SSE stream or JSON body).

The relay forwards every chunk unchanged; the meter only looks at the events that carry usage
(``message_start``, ``message_delta``) and errors, found with ``bytes.find`` so the many content
deltas in between cost next to nothing. ``message_delta`` usage is cumulative: it overwrites.
"""

from __future__ import annotations

from typing import Any

import msgspec

from actors.relay.prices import Usage

_START = b"event: message_start"
_DELTA = b"event: message_delta"
_STOP = b"event: message_stop"
_ERROR = b"event: error"
_MARKERS = (_START, _DELTA, _ERROR)
_KEEP = max(len(m) for m in (*_MARKERS, _STOP)) + 2
MAX_JSON_BODY = 8 * 1024 * 1024
"""A non-streaming reply larger than this is forwarded but not metered (usage unknown)."""

_decode = msgspec.json.Decoder(dict[str, Any]).decode


class Meter:
    """Feed it the reply's bytes; ``usage``, ``model``, ``message_id`` and ``complete`` after."""

    def __init__(self, *, streaming: bool) -> None:
        self.streaming = streaming
        self.fields: dict[str, Any] = {}
        self.model: str | None = None
        self.message_id: str | None = None
        self.complete = False
        self.error_type: str | None = None
        self._buf = b""
        self._body: list[bytes] = []
        self._body_len = 0

    def feed(self, chunk: bytes) -> None:
        if not self.streaming:
            self._body_len += len(chunk)
            if self._body_len <= MAX_JSON_BODY:
                self._body.append(chunk)
            return
        buf = self._buf + chunk if self._buf else chunk
        pos = 0
        while True:
            hit = _first_marker(buf, pos)
            if hit < 0:
                if not self.complete and buf.find(_STOP, pos) >= 0:
                    self.complete = True
                # keep a tail long enough to hold a marker split across chunks
                self._buf = buf[-_KEEP:] if len(buf) > _KEEP else buf
                return
            if not self.complete and buf.find(_STOP, pos, hit) >= 0:
                self.complete = True
            end = buf.find(b"\n\n", hit)
            if end < 0:
                self._buf = buf[hit:]  # the event is not whole yet
                return
            self._event(buf[hit:end])
            pos = end + 2

    def finish(self) -> None:
        """End of the reply: decode a JSON body; flush an SSE event that lacked its blank line."""
        if not self.streaming:
            if self._body and self._body_len <= MAX_JSON_BODY:
                try:
                    msg = _decode(b"".join(self._body))
                except msgspec.DecodeError:
                    return
                self._message(msg)
                if msg.get("type") == "message":
                    self.complete = True
            return
        if self._buf.startswith(_MARKERS):
            self._event(self._buf)
        if _STOP in self._buf:
            self.complete = True

    def _event(self, raw: bytes) -> None:
        i = raw.find(b"\ndata:")
        if i < 0:
            return
        try:
            ev = _decode(raw[i + 6 :])
        except msgspec.DecodeError:
            return
        kind = ev.get("type")
        if kind == "message_start" and isinstance(ev.get("message"), dict):
            self._message(ev["message"])
        elif kind == "message_delta" and isinstance(ev.get("usage"), dict):
            self._usage(ev["usage"])
        elif kind == "error" and isinstance(ev.get("error"), dict):
            self.error_type = str(ev["error"].get("type") or "error")

    def _message(self, msg: dict[str, Any]) -> None:
        if isinstance(msg.get("model"), str):
            self.model = msg["model"]
        if isinstance(msg.get("id"), str):
            self.message_id = msg["id"]
        if isinstance(msg.get("usage"), dict):
            self._usage(msg["usage"])
        if msg.get("type") == "error" and isinstance(msg.get("error"), dict):
            self.error_type = str(msg["error"].get("type") or "error")

    def _usage(self, usage: dict[str, Any]) -> None:
        self.fields.update({k: v for k, v in usage.items() if v is not None})

    @property
    def usage(self) -> Usage:
        f = self.fields
        cc = f.get("cache_creation") if isinstance(f.get("cache_creation"), dict) else {}
        stu = f.get("server_tool_use") if isinstance(f.get("server_tool_use"), dict) else {}
        assert isinstance(cc, dict) and isinstance(stu, dict)
        searches = _int(stu.get("web_search_requests"))
        others = sum(_int(v) for k, v in stu.items() if k != "web_search_requests")
        return Usage(
            input_tokens=_int(f.get("input_tokens")),
            output_tokens=_int(f.get("output_tokens")),
            cache_read_input_tokens=_int(f.get("cache_read_input_tokens")),
            cache_creation_input_tokens=_int(f.get("cache_creation_input_tokens")),
            cache_creation_1h_input_tokens=_int(cc.get("ephemeral_1h_input_tokens")),
            web_search_requests=searches,
            other_server_tool_requests=others,
            speed=str(f.get("speed") or "standard"),
        )


def _first_marker(buf: bytes, pos: int) -> int:
    best = -1
    for m in _MARKERS:
        i = buf.find(m, pos)
        if i >= 0 and (best < 0 or i < best):
            best = i
    return best


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else 0
