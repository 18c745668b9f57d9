"""Text that crosses a trust boundary: names checked on the way in, escaped on the way out.

A name (job, webhook, server description shown in a list) reaches terminals, HTML and log lines.
:func:`validate_name` refuses control and format characters at the door (an ANSI escape could
clear an operator's screen or set the terminal title; a newline could forge a row; a NUL cuts
strings in C tools); :func:`escape_terminal` makes anything already stored safe to print.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any, TextIO

from runner.errors import InvalidInput

__all__ = ["TerminalWriter", "control_characters", "escape_terminal", "validate_name"]

# Cc (C0/C1 controls, DEL), Cf (bidi overrides, zero-width joiners…), Cs (lone surrogates),
# Zl/Zp (line and paragraph separators): none of these belong in a one-line name.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in _UNSAFE_CATEGORIES


def control_characters(text: str) -> list[str]:
    """The distinct unsafe characters in *text*, as ``U+XXXX`` codes (empty when clean)."""
    seen: dict[str, None] = {}
    for ch in text:
        if _unsafe(ch):
            seen[f"U+{ord(ch):04X}"] = None
    return list(seen)


def validate_name(value: object, *, field: str = "name", limit: int = 200) -> str:
    """A stripped, non-empty one-line name of at most *limit* characters, or ``InvalidInput``
    naming *field* and what to fix."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", field=field)
    name = value.strip()
    if not name:
        raise InvalidInput(f"{field} is required", field=field)
    if len(name) > limit:
        raise InvalidInput(f"{field} is {len(name)} characters; the limit is {limit}", field=field)
    bad = control_characters(name)
    if bad:
        raise InvalidInput(
            f"{field} contains control or invisible characters ({', '.join(bad[:5])}); "
            "use printable text on one line",
            field=field,
        )
    return name


def escape_terminal(text: object, *, keep_newlines: bool = False) -> str:
    """*text* safe to write to a terminal: every unsafe character becomes its visible JSON escape
    (``\\u001b``, ``\\n``, ``\\u202e``), so escaped JSON stays valid JSON that decodes to the
    same value. Printable text, including non-ASCII letters, is unchanged. With
    *keep_newlines*, ``\\n`` is written as is (for multi-line output whose fields are already
    escaped, such as indented JSON)."""
    s = text if isinstance(text, str) else str(text)
    if s.isprintable():  # the common case, checked in C
        return s
    if keep_newlines:
        return "\n".join(_escape_line(part) for part in s.split("\n"))
    return _escape_line(s)


def _escape_line(s: str) -> str:
    if s.isprintable():
        return s
    return "".join(json.dumps(ch)[1:-1] if _unsafe(ch) else ch for ch in s)


class TerminalWriter:
    """A text stream wrapper that escapes control characters on their way to a terminal (or a
    pipe read by one): the last line of defence behind the per-field escaping of table rows."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(escape_terminal(text, keep_newlines=True))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
