"""SDK messages → run events: output blocks with caps and redaction, usage per API message.

One ``Recorder`` per run. ``handle(message)`` returns the events a message produces (the
executor appends them at once, so every block is in the log as soon as it arrives):

* every content block (text, thinking, tool_use, tool_result) → ``RunOutput`` with ``seq``
  increasing from 0; text over the per-block cap is cut (``truncated=True`` plus a
  ``RunOutputTruncated(limit="block")``); once the per-run cap is reached, further text is
  dropped, recorded by one ``RunOutputTruncated(limit="run")`` when it happens and a final
  ``limit="run_total"`` summary at the end;
* ``message_start``/``message_delta`` stream events → one ``RunUsage`` per API message id with
  the final output token count;
* ``api_retry`` system messages → a visible ``system`` output block.

Every string goes through ``redact`` first, so resolver secrets never become events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from claude_agent_sdk import (
    AssistantMessage,
    ResultMessage,
    SystemMessage,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
)
from claude_agent_sdk.types import Message, StreamEvent

from events.catalogue import Event
from events.runs import OutputKind, RunOutput, RunOutputTruncated, RunResult, RunUsage, Usage

REDACTED = "[redacted]"


class Redactor:
    """Replaces every secret value (longest first) with ``[redacted]``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self.secrets:
            if s in text:
                text = text.replace(s, REDACTED)
        return text

    def deep(self, value: Any) -> Any:
        if not self.secrets:
            return value
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self(str(k)): self.deep(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.deep(v) for v in value]
        return value


def usage_of(raw: dict[str, Any] | None) -> Usage:
    raw = raw or {}

    def n(key: str) -> int:
        v = raw.get(key)
        return int(v) if isinstance(v, int | float) else 0

    return Usage(
        input_tokens=n("input_tokens"),
        output_tokens=n("output_tokens"),
        cache_creation_input_tokens=n("cache_creation_input_tokens"),
        cache_read_input_tokens=n("cache_read_input_tokens"),
    )


def result_of(msg: ResultMessage, model: str | None) -> RunResult:
    return RunResult(
        usage=usage_of(msg.usage),
        cost_usd=float(msg.total_cost_usd or 0.0),
        num_turns=msg.num_turns,
        duration_ms=msg.duration_ms,
        model=model,
        session_id=msg.session_id,
    )


def tool_result_text(content: str | list[dict[str, Any]] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            parts.append(part["text"])
        else:
            parts.append(json.dumps(part, default=str))
    return "\n".join(parts)


class Recorder:
    """Turns one run's SDK messages into events; keeps the result and the last API error."""

    def __init__(
        self, run_id: str, *, redact: Redactor, max_block_chars: int, max_run_chars: int
    ) -> None:
        self.run_id = run_id
        self.redact = redact
        self.max_block = max_block_chars
        self.max_run = max_run_chars
        self.seq = 0
        self.chars = 0
        self.dropped = 0
        self.run_cap_hit = False
        self.model: str | None = None
        self.session_id: str | None = None
        self.result: ResultMessage | None = None
        self.api_error: str | None = None
        self.retries: list[dict[str, Any]] = []
        self._pending: dict[str, tuple[str | None, Usage]] = {}
        self._current: str | None = None
        self._tool_names: dict[str, str] = {}

    # -- output blocks ---------------------------------------------------------------------
    def _block(
        self,
        kind: OutputKind,
        text: str,
        *,
        tool_name: str | None = None,
        tool_use_id: str | None = None,
        data: dict[str, Any] | None = None,
        is_error: bool = False,
        message_id: str | None = None,
    ) -> list[Event]:
        out: list[Event] = []
        text = self.redact(text)
        seq = self.seq
        truncated = False
        if len(text) > self.max_block:
            out_dropped = len(text) - self.max_block
            text, truncated = text[: self.max_block], True
            out.append(
                RunOutputTruncated(
                    run_id=self.run_id, seq=seq, limit="block", dropped_chars=out_dropped
                )
            )
        room = self.max_run - self.chars
        if len(text) > room:
            cut = len(text) - max(room, 0)
            self.dropped += cut
            if not self.run_cap_hit:
                self.run_cap_hit = True
                out.append(
                    RunOutputTruncated(run_id=self.run_id, seq=seq, limit="run", dropped_chars=cut)
                )
            if room <= 0:
                return out
            text, truncated, data = text[:room], True, None
        self.chars += len(text)
        self.seq += 1
        if data is not None:
            data = self.redact.deep(data)
        block = RunOutput(
            run_id=self.run_id,
            seq=seq,
            kind=kind,
            text=text,
            tool_name=tool_name,
            tool_use_id=tool_use_id,
            data=data,
            is_error=is_error,
            truncated=truncated,
            message_id=message_id,
        )
        return [block, *out]

    def system(self, text: str, *, is_error: bool = False) -> list[Event]:
        return self._block("error" if is_error else "system", text, is_error=is_error)

    # -- messages --------------------------------------------------------------------------
    def handle(self, msg: Message) -> list[Event]:
        if isinstance(msg, StreamEvent):
            return self._stream(msg.event)
        if isinstance(msg, AssistantMessage):
            return self._assistant(msg)
        if isinstance(msg, UserMessage):
            return self._user(msg)
        if isinstance(msg, SystemMessage):
            return self._system(msg)
        if isinstance(msg, ResultMessage):
            self.result = msg
            self.session_id = msg.session_id
            return self.flush_usage()
        return []

    def _stream(self, ev: dict[str, Any]) -> list[Event]:
        t = ev.get("type")
        if t == "message_start":
            m = ev.get("message") or {}
            mid = m.get("id")
            if isinstance(mid, str):
                self._pending[mid] = (m.get("model"), usage_of(m.get("usage")))
                self._current = mid
        elif t == "message_delta":
            mid = self._current
            if mid is not None and mid in self._pending:
                model, usage = self._pending.pop(mid)
                final = usage_of(ev.get("usage"))
                merged = Usage(
                    input_tokens=final.input_tokens or usage.input_tokens,
                    output_tokens=final.output_tokens or usage.output_tokens,
                    cache_creation_input_tokens=final.cache_creation_input_tokens
                    or usage.cache_creation_input_tokens,
                    cache_read_input_tokens=final.cache_read_input_tokens
                    or usage.cache_read_input_tokens,
                )
                return [RunUsage(run_id=self.run_id, message_id=mid, model=model, usage=merged)]
        return []

    def flush_usage(self) -> list[Event]:
        """Usage of API messages that never saw their ``message_delta`` (interrupted)."""
        out: list[Event] = [
            RunUsage(run_id=self.run_id, message_id=mid, model=model, usage=usage)
            for mid, (model, usage) in self._pending.items()
        ]
        self._pending.clear()
        return out

    def _assistant(self, msg: AssistantMessage) -> list[Event]:
        if msg.error:
            self.api_error = msg.error
        if msg.model and msg.model != "<synthetic>":
            self.model = msg.model
        out: list[Event] = []
        mid = msg.message_id
        for b in msg.content:
            if isinstance(b, TextBlock):
                kind: OutputKind = "error" if msg.error else "text"
                out += self._block(kind, b.text, message_id=mid, is_error=bool(msg.error))
            elif isinstance(b, ThinkingBlock):
                out += self._block("thinking", b.thinking, message_id=mid)
            elif isinstance(b, ToolUseBlock):
                self._tool_names[b.id] = b.name
                text = json.dumps(b.input, ensure_ascii=False, default=str)
                data = {"input": b.input} if len(text) <= self.max_block else None
                out += self._block(
                    "tool_use", text, tool_name=b.name, tool_use_id=b.id, data=data, message_id=mid
                )
            elif isinstance(b, ToolResultBlock):
                out += self._tool_result(b)
            else:
                name = getattr(b, "name", None)
                text = json.dumps(getattr(b, "input", None) or getattr(b, "content", None))
                kind = "tool_use" if name else "tool_result"
                tid = getattr(b, "id", None) or getattr(b, "tool_use_id", None)
                out += self._block(kind, text, tool_name=name, tool_use_id=tid, message_id=mid)
        return out

    def _tool_result(self, b: ToolResultBlock) -> list[Event]:
        return self._block(
            "tool_result",
            tool_result_text(b.content),
            tool_name=self._tool_names.get(b.tool_use_id),
            tool_use_id=b.tool_use_id,
            is_error=bool(b.is_error),
        )

    def _user(self, msg: UserMessage) -> list[Event]:
        if isinstance(msg.content, str):
            return []
        out: list[Event] = []
        for b in msg.content:
            if isinstance(b, ToolResultBlock):
                out += self._tool_result(b)
        return out

    def _system(self, msg: SystemMessage) -> list[Event]:
        d = msg.data
        if msg.subtype == "init":
            if isinstance(d.get("model"), str):
                self.model = d["model"]
            if isinstance(d.get("session_id"), str):
                self.session_id = d["session_id"]
            return []
        if msg.subtype == "api_retry":
            self.retries.append(d)
            status = d.get("error_status")
            text = (
                f"API retry {d.get('attempt')}/{d.get('max_retries')}: {d.get('error')}"
                f"{f' (HTTP {status})' if status else ''}, next attempt in "
                f"{int(d.get('retry_delay_ms') or 0)} ms"
            )
            return self.system(text)
        return []

    def finish(self) -> list[Event]:
        """Pending usage plus the run-cap summary, before the terminal event."""
        out = self.flush_usage()
        if self.run_cap_hit:
            out.append(
                RunOutputTruncated(
                    run_id=self.run_id, seq=self.seq, limit="run_total", dropped_chars=self.dropped
                )
            )
        return out

    def run_result(self) -> RunResult | None:
        return None if self.result is None else result_of(self.result, self.model)
