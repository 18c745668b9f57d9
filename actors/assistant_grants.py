"""Per-run MCP credentials of assistant turns: the runner's own ``/mcp``, as the conversation's
user, for as long as the run lives.

The executor mints a token when a turn starts (``AssistantDoor.open``) and ends it when the run
ends (``close``); the MCP endpoint's token check (``web/mcp/oauth.py``) asks ``find``. Tokens
exist only in this process's memory and as a SHA-256 digest: they are never in the log, they die
with the process, and an ended token is remembered (so its refusal is clear) but never valid
again. Only ``/mcp`` accepts them: the dashboard and the API know nothing of them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import msgspec

from events.assistant import AssistantTurn

TOKEN_PREFIX = "cra_"
SERVER_NAME = "runner"
"""The runner's own MCP server as the turn's model sees it: ``mcp__runner__<tool>``."""
KEEP_ENDED = 2_000
CLIENT_PREFIX = "assistant:"
"""OAuth ``client_id`` of an assistant credential (``assistant:<conversation id>``)."""


class AssistantUnavailable(Exception):
    """No MCP endpoint to attach (the web server is not running in this process)."""


class AssistantGrant(msgspec.Struct, kw_only=True):
    run_id: str
    conversation_id: str
    user: str
    digest: bytes
    expires_at: float
    ended: str | None = None


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


class AssistantDoor:
    """The loopback MCP endpoint of this process and the live assistant credentials."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.endpoint: str | None = None
        """``http://<loopback host>:<port>`` of this process's web server, set when it listens."""
        self._by_digest: dict[bytes, AssistantGrant] = {}
        self._by_run: OrderedDict[str, AssistantGrant] = OrderedDict()

    def listening(self, host: str, port: int) -> None:
        """The web server listens on ``host:port``: runs reach it there (the sandbox shares the
        network; a wildcard address is reached on loopback)."""
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        shown = f"[{host}]" if ":" in host else host
        self.endpoint = f"http://{shown}:{port}"

    def open(self, run_id: str, turn: AssistantTurn, ttl: float) -> dict[str, Any]:
        """Mint the run's credential; the MCP server entry (an ``http`` config) that uses it."""
        if self.endpoint is None:
            raise AssistantUnavailable(
                "the assistant needs the runner's own MCP endpoint, and the web server is not "
                "running in this process"
            )
        self.close(run_id, "replaced by a new credential")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        grant = AssistantGrant(
            run_id=run_id,
            conversation_id=turn.conversation_id,
            user=turn.user,
            digest=_digest(token),
            expires_at=self.clock() + ttl,
        )
        self._by_digest[grant.digest] = grant
        self._by_run[run_id] = grant
        self._forget_old()
        return {
            SERVER_NAME: {
                "type": "http",
                "url": f"{self.endpoint}/mcp",
                "headers": {"Authorization": f"Bearer {token}"},
            }
        }

    def find(self, token: str) -> AssistantGrant | None:
        """The live grant of ``token``, or ``None`` (unknown, ended or expired)."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        digest = _digest(token)
        grant = self._by_digest.get(digest)
        if grant is None or not hmac.compare_digest(grant.digest, digest):
            return None
        if grant.ended is None and self.clock() > grant.expires_at:
            grant.ended = "expired"
        return None if grant.ended is not None else grant

    def of_run(self, run_id: str) -> AssistantGrant | None:
        return self._by_run.get(run_id)

    def close(self, run_id: str, why: str = "the run ended") -> None:
        """End the run's credential (idempotent)."""
        grant = self._by_run.get(run_id)
        if grant is not None and grant.ended is None:
            grant.ended = why

    @property
    def live(self) -> int:
        return sum(1 for g in self._by_run.values() if g.ended is None)

    def _forget_old(self) -> None:
        while len(self._by_run) > KEEP_ENDED:
            run_id, grant = next(iter(self._by_run.items()))
            if grant.ended is None:
                break  # never forget a live credential: the oldest live one bounds the list
            del self._by_run[run_id]
            self._by_digest.pop(grant.digest, None)
