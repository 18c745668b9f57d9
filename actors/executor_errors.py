"""Why a run failed: CLI results and SDK exceptions → ``RunFailed`` (reason, message, retryable).

``retryable`` is True only for transient failures: overload (529), other 5xx, rate limits (429),
connection trouble and CLI crashes. Authentication, bad requests (e.g. an unknown model), budget
and turn limits, and a missing CLI fail fast and are not retried.
"""

from __future__ import annotations

from claude_agent_sdk import (
    ClaudeSDKError,
    CLIConnectionError,
    CLIJSONDecodeError,
    CLINotFoundError,
    ProcessError,
    ResultMessage,
)
from claude_agent_sdk._errors import MessageParseError, ResultError

from events.runs import FailureReason, RunFailed, RunResult

AUTH_MESSAGE = "Claude Code is not authenticated — set ANTHROPIC_API_KEY or log in"


class Failure:
    """A classified failure; ``event()`` makes the ``RunFailed``."""

    def __init__(self, reason: FailureReason, message: str, retryable: bool = False) -> None:
        self.reason = reason
        self.message = message
        self.retryable = retryable

    def event(self, run_id: str, result: RunResult | None) -> RunFailed:
        return RunFailed(
            run_id=run_id,
            reason=self.reason,
            message=self.message,
            retryable=self.retryable,
            result=result,
        )

    def __repr__(self) -> str:
        return f"Failure({self.reason!r}, {self.message!r}, retryable={self.retryable})"


def from_status(status: int, detail: str, model: str | None) -> Failure:
    if status in (401, 403):
        return Failure("authentication", AUTH_MESSAGE + (f" ({detail})" if detail else ""))
    if status == 429:
        return Failure("rate_limited", f"Rate limited by the API: {detail}", True)
    if status == 529:
        return Failure("overloaded", f"The API is overloaded (HTTP 529): {detail}", True)
    if status >= 500:
        return Failure("api_error", f"The API failed with HTTP {status}: {detail}", True)
    if status == 404:
        return Failure("invalid_request", f"Model {model!r} was not found: {detail}")
    return Failure("invalid_request", f"The API rejected the request (HTTP {status}): {detail}")


def from_api_error(kind: str | None, detail: str, model: str | None) -> Failure | None:
    """From ``AssistantMessage.error`` when the result carries no HTTP status."""
    match kind:
        case "authentication_failed":
            return Failure("authentication", AUTH_MESSAGE)
        case "rate_limit":
            return Failure("rate_limited", f"Rate limited by the API: {detail}", True)
        case "server_error":
            return Failure("api_error", f"The API failed: {detail}", True)
        case "invalid_request":
            return Failure("invalid_request", f"The API rejected the request: {detail}")
        case "billing_error":
            return Failure("api_error", f"Billing problem on the API account: {detail}")
        case "unknown":
            return Failure("api_error", f"The API call failed: {detail}", True)
    return None


def from_result(
    *,
    subtype: str | None,
    terminal_reason: str | None,
    status: int | None,
    errors: list[str],
    text: str,
    api_error: str | None,
    model: str | None,
) -> Failure:
    """Classify an error result (from a ``ResultMessage`` or a ``ResultError``)."""
    detail = "; ".join(errors) or text or (subtype or "")
    if subtype == "error_max_turns" or terminal_reason == "max_turns":
        return Failure("max_turns", f"Stopped after the maximum number of turns: {detail}")
    if subtype == "error_max_budget_usd" or terminal_reason == "budget_exhausted":
        return Failure("budget_exceeded", f"The run's budget was exhausted: {detail}")
    if status is not None:
        return from_status(status, detail, model)
    if (f := from_api_error(api_error, detail, model)) is not None:
        return f
    if terminal_reason == "api_error":
        return Failure("api_error", f"The API call failed: {detail}", True)
    return Failure("internal", f"Claude Code reported an error ({subtype}): {detail}")


def from_result_message(
    msg: ResultMessage, api_error: str | None, model: str | None
) -> Failure | None:
    """``None`` for a successful result."""
    if not msg.is_error and msg.subtype == "success":
        return None
    return from_result(
        subtype=msg.subtype,
        terminal_reason=msg.terminal_reason,
        status=msg.api_error_status,
        errors=list(msg.errors or []),
        text=msg.result or "",
        api_error=api_error,
        model=model,
    )


def from_exception(exc: Exception, api_error: str | None, model: str | None) -> Failure:
    if isinstance(exc, CLINotFoundError):
        return Failure("cli_not_found", f"The Claude Code CLI was not found: {exc}")
    if isinstance(exc, ResultError):
        return from_result(
            subtype=exc.subtype,
            terminal_reason=exc.terminal_reason,
            status=exc.api_error_status,
            errors=exc.errors,
            text=exc.result or "",
            api_error=api_error,
            model=model,
        )
    if isinstance(exc, CLIJSONDecodeError | MessageParseError):
        return Failure("internal", f"Unreadable output from Claude Code: {exc}")
    if isinstance(exc, ProcessError):
        return Failure("cli_crashed", f"Claude Code exited with code {exc.exit_code}", True)
    if isinstance(exc, CLIConnectionError):
        return Failure("cli_crashed", f"Could not talk to Claude Code: {exc}", True)
    if isinstance(exc, ClaudeSDKError):
        return Failure("cli_crashed", f"Claude Code failed: {exc}", True)
    return Failure("internal", f"Executor error: {type(exc).__name__}: {exc}")
