"""Typed errors of commands and queries. Each says what to fix; the web layer maps ``status``."""

from __future__ import annotations


class CommandError(Exception):
    """Base: a command was refused and nothing was written."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(CommandError):
    status = 422
    code = "invalid"


class NotFound(CommandError):
    status = 404
    code = "not_found"


class Conflict(CommandError):
    status = 409
    code = "conflict"


class Unavailable(CommandError):
    status = 503
    code = "unavailable"
