"""Approval events: a human in the loop for "ask first" tools, on the run's own stream.

``RunAwaitingApproval`` (the executor paused a tool call) → exactly one of ``ApprovalAnswered``
(a person said yes or no), ``ApprovalTimedOut`` (nobody did in time) or ``ApprovalWithdrawn``
(the run ended or the service stopped while it waited). Whoever appends the resolution does so
at the stream version they read, so two answers, or an answer racing the timeout, resolve once.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

OnTimeout = Literal["deny_and_continue", "fail_run"]
Decision = Literal["approved", "denied"]


class RunAwaitingApproval(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """The run paused before ``tool``; ``input`` is the exact call with secrets redacted."""

    run_id: str
    approval_id: str
    tool: str
    input: dict[str, Any]
    deadline: float
    """Unix time after which the call is denied (``ApprovalTimedOut``)."""
    on_timeout: OnTimeout = "deny_and_continue"
    tool_use_id: str | None = None
    job_id: str | None = None
    reason: str = ""
    """Why it asks: the matching ``ask_first`` entry, or "untrusted input"."""


class ApprovalAnswered(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    run_id: str
    approval_id: str
    decision: Decision
    by: str
    message: str = ""
    """With a denial: what the model is told instead of the tool's result."""


class ApprovalTimedOut(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    run_id: str
    approval_id: str
    waited_seconds: float
    on_timeout: OnTimeout = "deny_and_continue"


class ApprovalWithdrawn(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    run_id: str
    approval_id: str
    reason: str
    new_run_id: str | None = None
    """When the service stopped mid-wait: the run requested again in its place."""


ApprovalEvent = RunAwaitingApproval | ApprovalAnswered | ApprovalTimedOut | ApprovalWithdrawn
APPROVAL_RESOLUTIONS: tuple[type, ...] = (ApprovalAnswered, ApprovalTimedOut, ApprovalWithdrawn)
