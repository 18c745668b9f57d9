"""The relay's side toward the model API: the real credential, retries, the concurrency cap.

The credential is an API key (``x-api-key``), a bearer token (``ANTHROPIC_AUTH_TOKEN``), or the
OAuth access token of ``claude setup-token`` / ``claude login`` (``Authorization: Bearer`` plus
the ``oauth-2025-04-20`` beta). A login's token is re-read from ``.credentials.json`` when the file
changes: the host's own CLI refreshes it; the relay never does (refresh tokens rotate).

429 and 529 answers are retried here with exponential backoff and full jitter, honouring
``retry-after`` / ``retry-after-ms`` up to ``max_retry_wait``; a longer wait, or the last
attempt's answer, goes back to the CLI as it came.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from pathlib import Path

import anyio
import httpx2
import msgspec

DEFAULT_UPSTREAM = "https://api.anthropic.com"
OAUTH_BETA = "oauth-2025-04-20"
RETRY_STATUSES = frozenset({429, 529})
DROP_REQUEST = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "upgrade",
        "te",
        "trailer",
        "proxy-authorization",
        "proxy-connection",
        "x-api-key",
        "authorization",
        "accept-encoding",
        "remote-addr",
        "x-forwarded-for",
        "forwarded",
    }
)
DROP_RESPONSE = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
"""The body is re-chunked; its bytes (and any ``content-encoding``) pass as they came."""


class Credential(msgspec.Struct, frozen=True, kw_only=True):
    """Where the real credential comes from (its value is never logged or shown)."""

    kind: str
    """``api_key``, ``auth_token``, ``oauth_token`` or ``claude_login``."""
    api_key: str | None = None
    bearer: str | None = None
    login_file: Path | None = None

    @property
    def oauth(self) -> bool:
        return self.kind in ("oauth_token", "claude_login")


class _LoginCache:
    def __init__(self) -> None:
        self.mtime: float | None = None
        self.token: str | None = None

    def token_of(self, path: Path) -> str | None:
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return None
        if mtime != self.mtime:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                token = data["claudeAiOauth"]["accessToken"]
            except (OSError, ValueError, KeyError, TypeError):
                return None
            self.mtime, self.token = mtime, token if isinstance(token, str) else None
        return self.token


class Counters(msgspec.Struct, kw_only=True):
    """Visible on the health panel."""

    calls: int = 0
    in_flight: int = 0
    waiting: int = 0
    retries: int = 0
    rate_limited: int = 0
    overloaded: int = 0
    upstream_errors: int = 0
    refused: int = 0
    unknown_tokens: int = 0
    bad_requests: int = 0


class Upstream:
    """One shared HTTP client, the credential headers, retries and the concurrency cap."""

    def __init__(
        self,
        base_url: str,
        credential: Credential,
        *,
        max_concurrent: int = 8,
        max_retries: int = 4,
        max_retry_wait: float = 60.0,
        backoff_base: float = 0.5,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credential = credential
        self.limiter = anyio.CapacityLimiter(max_concurrent)
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self.backoff_base = backoff_base
        self.counters = Counters()
        self._login = _LoginCache()
        self.client = httpx2.AsyncClient(
            timeout=httpx2.Timeout(connect=10.0, read=600.0, write=60.0, pool=30.0),
            limits=httpx2.Limits(max_connections=max(64, max_concurrent * 2)),
            transport=transport,
        )

    def headers(self, incoming: Mapping[str, str]) -> dict[str, str]:
        """The incoming headers without hop-by-hop and auth ones, plus the real credential."""
        out = {k: v for k, v in incoming.items() if k not in DROP_REQUEST}
        out["accept-encoding"] = "identity"  # the meter reads the bytes as they pass
        cred = self.credential
        if cred.api_key:
            out["x-api-key"] = cred.api_key
        bearer = cred.bearer
        if cred.login_file is not None:
            bearer = self._login.token_of(cred.login_file)
        if bearer:
            out["authorization"] = f"Bearer {bearer}"
        if cred.oauth:
            betas = [b.strip() for b in out.get("anthropic-beta", "").split(",") if b.strip()]
            if OAUTH_BETA not in betas:
                out["anthropic-beta"] = ",".join([*betas, OAUTH_BETA])
        return out

    async def send(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[httpx2.Response, int]:
        """The upstream's streaming response (caller closes it) and how many retries it took."""
        url = self.base_url + target
        retries = 0
        while True:
            req = self.client.build_request(method, url, headers=headers, content=body)
            resp = await self.client.send(req, stream=True)
            status = resp.status_code
            if status not in RETRY_STATUSES:
                return resp, retries
            if status == 429:
                self.counters.rate_limited += 1
            else:
                self.counters.overloaded += 1
            wait = self._wait(resp.headers, retries)
            if retries >= self.max_retries or wait is None:
                return resp, retries
            await resp.aclose()
            retries += 1
            self.counters.retries += 1
            await anyio.sleep(wait)

    def _wait(self, headers: Mapping[str, str], attempt: int) -> float | None:
        """Seconds before the next attempt; ``None`` when the upstream asks for too long."""
        asked: float | None = None
        for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
            raw = headers.get(name)
            if raw is None:
                continue
            try:
                asked = max(0.0, float(raw) * scale)
                break
            except ValueError:
                continue
        jitter = random.uniform(0, self.backoff_base * (2**attempt))
        if asked is None:
            return min(jitter, self.max_retry_wait)
        if asked > self.max_retry_wait:
            return None
        return asked + random.uniform(0, min(1.0, self.backoff_base))

    async def aclose(self) -> None:
        await self.client.aclose()


def response_headers(headers: httpx2.Headers) -> list[tuple[bytes, bytes]]:
    return [
        (k.encode("latin-1"), v.encode("latin-1"))
        for k, v in headers.multi_items()
        if k.lower() not in DROP_RESPONSE
    ]
