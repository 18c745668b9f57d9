"""The per-app handles every view needs, kept in ``app.extensions``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from quart import current_app

if TYPE_CHECKING:
    from runner.access import Access
    from runner.app import Runner
    from runner.queries_web import WebQueries
    from web.auth import LoginLimiter
    from web.sse import Hub

KEY = "claude_runner"


@dataclass
class Web:
    runner: Runner
    service: Any  # runner.service.Service, or None when only the web app runs (tests)
    access: Access
    wq: WebQueries
    hub: Hub
    limiter: LoginLimiter


def web() -> Web:
    """The handles of the current app."""
    w: Web = current_app.extensions[KEY]
    return w
