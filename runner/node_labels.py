"""Node names and labels: what a ``runner serve`` node advertises and what a job may pin to.

A label is 1-63 characters of letters, digits, ``.``, ``_`` and ``-``, starting with a letter or
digit (so it is safe in a URL, a terminal and an HTML attribute without escaping surprises).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from typing import Any

from runner.errors import InvalidInput

MAX_LABEL = 63
MAX_LABELS = 32
MAX_NODE_NAME = 128
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _describe(value: str) -> str:
    bad = next((c for c in value if not (c.isascii() and (c.isalnum() or c in "._-"))), None)
    if bad is not None:
        return (
            f"contains {'the control character ' if not bad.isprintable() else ''}U+{ord(bad):04X}"
        )
    return "must start with a letter or digit"


def check_label(value: Any, field: str = "node_label", *, limit: int = MAX_LABEL) -> str:
    """``value`` as a label, or ``InvalidInput`` naming ``field`` and what to fix."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", field=field)
    text = value.strip(" ")  # only spaces: a trailing newline or escape is refused
    if not text:
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(text) > limit:
        raise InvalidInput(f"{field} is {len(text)} characters; the limit is {limit}", field=field)
    if not _LABEL.fullmatch(text):
        raise InvalidInput(
            f"{field} {_describe(text)}; use letters, digits, '.', '_' and '-' only "
            "(starting with a letter or digit)",
            field=field,
        )
    return text


def optional_label(data: Mapping[str, Any], field: str = "node_label") -> str | None:
    """The optional ``node_label`` of a job or run: ``None``/empty means any node."""
    value = data.get(field)
    if value is None or (isinstance(value, str) and not value.strip(" ")):
        return None
    return check_label(value, field)


def parse_labels(value: Any, field: str = "RUNNER_NODE_LABELS") -> tuple[str, ...]:
    """A node's labels from ``gpu,eu`` (or a list): checked, de-duplicated, in order."""
    if value is None or value == "":
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise InvalidInput(f"{field} must be a comma-separated list of labels", field=field)
    labels = tuple(dict.fromkeys(check_label(v, field) for v in items if str(v).strip()))
    if len(labels) > MAX_LABELS:
        raise InvalidInput(f"{field} has {len(labels)} labels; the limit is {MAX_LABELS}",
                           field=field)  # fmt: skip
    return labels


def node_name(value: Any, field: str = "RUNNER_NODE_NAME") -> str:
    """This node's name: ``value`` when given (checked like a label), else the hostname."""
    if value is None or value == "":
        return socket.gethostname()
    return check_label(value, field, limit=MAX_NODE_NAME)
