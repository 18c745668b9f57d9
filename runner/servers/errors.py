"""Typed errors of the tool-server library."""

from __future__ import annotations


class ServerError(ValueError):
    """Base class: a request about a tool server that cannot be honoured (a clear user error)."""


class InvalidServerName(ServerError):
    """The server name is malformed or reserved."""


class InvalidServerCode(ServerError):
    """The server code is too large, not UTF-8 text, or not valid Python."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        self.line = line
        super().__init__(message)


class InvalidServerConfig(ServerError):
    """An external (stdio / HTTP) server configuration is malformed."""
