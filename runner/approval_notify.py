"""Tells a person that a tool call waits for them: an email, a signed webhook POST, or both.

Follows the log; on each ``RunAwaitingApproval`` it reads the settings
``approval_notify_email`` (sent through the built-in ``email`` server's SMTP credentials) and
``approval_notify_url`` (a JSON POST). The POST carries ``X-Runner-Timestamp`` and
``X-Runner-Signature: sha256=<hex>`` = HMAC-SHA256(key, "<timestamp>.<body>") with the key in
``<data_dir>/approval_webhook.key`` (created 0600 on first use; ``runner approvals signing-key``
prints it). The input in a notification is the redacted one of the event. A failed delivery is
logged and never stops the run (the dashboard and MCP still show the request).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import time
import urllib.request
from pathlib import Path
from typing import Any

import anyio

from events.approvals import RunAwaitingApproval
from projections.read import get_row
from projections.settings import SETTINGS, Settings, SettingsView, effective
from runner.app import Runner
from runner.builtin_servers.email import (
    EmailError,
    build_message,
    send_message,
    settings_from_env,
)

log = logging.getLogger(__name__)
KEY_FILE = "approval_webhook.key"
POST_TIMEOUT = 10.0


def signing_key(data_dir: Path) -> bytes:
    """The HMAC key of approval webhooks (hex text in a 0600 file, made on first use)."""
    path = data_dir / KEY_FILE
    try:
        return path.read_text().strip().encode()
    except FileNotFoundError:
        pass
    key = secrets.token_hex(32)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        return path.read_text().strip().encode()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key.encode()


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def payload(runner: Runner, ev: RunAwaitingApproval) -> dict[str, Any]:
    base = (runner.config.public_url or "").rstrip("/")
    return {
        "type": "approval.requested",
        "approval_id": ev.approval_id,
        "run_id": ev.run_id,
        "job_id": ev.job_id,
        "tool": ev.tool,
        "input": ev.input,
        "reason": ev.reason,
        "deadline": ev.deadline,
        "on_timeout": ev.on_timeout,
        "run_url": f"{base}/runs/{ev.run_id}" if base else None,
        "approvals_url": f"{base}/approvals" if base else None,
    }


class ApprovalNotifier:
    """An actor: one notification per approval request, from the log position it starts at."""

    def __init__(self, runner: Runner, *, from_position: int | None = None) -> None:
        self.runner = runner
        self.from_position = from_position
        self.sent: list[tuple[str, str]] = []
        """``(channel, approval_id)`` delivered (for health and tests)."""

    async def run(self) -> None:
        store = self.runner.store
        head = self.from_position if self.from_position is not None else await store.head()
        async with store.subscribe(from_position=head) as sub:
            async for rec in sub:
                if isinstance(rec.event, RunAwaitingApproval):
                    await self.notify(rec.event)

    async def notify(self, ev: RunAwaitingApproval) -> None:
        row: SettingsView | None = await get_row(self.runner.store, SETTINGS, "settings")
        settings: Settings = effective(row.values if row else {})
        data = payload(self.runner, ev)
        if settings.approval_notify_email:
            try:
                await self._mail(settings.approval_notify_email, data)
                self.sent.append(("email", ev.approval_id))
            except (EmailError, OSError) as exc:
                log.warning("approval %s: email not sent: %s", ev.approval_id, exc)
        if settings.approval_notify_url:
            try:
                await self._post(settings.approval_notify_url, data)
                self.sent.append(("webhook", ev.approval_id))
            except OSError as exc:
                log.warning("approval %s: webhook not delivered: %s", ev.approval_id, exc)

    async def _mail(self, to: str, data: dict[str, Any]) -> None:
        creds = await self.runner.credentials.values("email")
        smtp = settings_from_env(creds)
        args = json.dumps(data["input"], indent=2, ensure_ascii=False)[:5000]
        link = data["run_url"] or f"run {data['run_id']} in the dashboard"
        due = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(data["deadline"]))
        body = (
            f"A run wants to call {data['tool']} and waits for your answer.\n\n"
            f"Why: {data['reason']}\nInput:\n{args}\n\n"
            f"Approve or deny: {link}\n"
            f"Denied automatically at {due}.\n"
        )
        subject = f"Approve {data['tool']}? (run {data['run_id']})"
        msg, rcpt = build_message(smtp, to, subject, body)
        await anyio.to_thread.run_sync(send_message, smtp, msg, rcpt)

    async def _post(self, url: str, data: dict[str, Any]) -> None:
        body = json.dumps(data, ensure_ascii=False).encode()
        ts = str(int(time.time()))
        key = signing_key(self.runner.config.data_dir)
        req = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "claude-runner-approvals",
                "X-Runner-Timestamp": ts,
                "X-Runner-Signature": sign(key, ts, body),
            },
        )

        def post() -> None:
            with urllib.request.urlopen(req, timeout=POST_TIMEOUT) as resp:
                if resp.status >= 300:
                    raise OSError(f"HTTP {resp.status}")

        await anyio.to_thread.run_sync(post)
