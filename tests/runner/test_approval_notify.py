"""Approval notifications reach a local SMTP server (aiosmtpd) and a local webhook receiver."""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiosmtpd.controller import Controller

from events.approvals import RunAwaitingApproval
from events.ids import run_stream
from runner.approval_notify import ApprovalNotifier, sign, signing_key
from runner.errors import InvalidInput
from tests.helpers import open_runner
from tests.runner.servers.conftest import Inbox, free_port

pytestmark = pytest.mark.anyio
SECRET = "smtp-pass-NOT-IN-MAIL"


class Receiver(BaseHTTPRequestHandler):
    got: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.got.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.got = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/hook"
    srv.shutdown()


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port)
    ctl.start()
    yield inbox, port
    ctl.stop()


async def test_email_and_signed_webhook(
    tmp_path: Path, smtp: tuple[Inbox, int], receiver: str
) -> None:
    inbox, port = smtp
    async with open_runner(tmp_path) as runner:
        await runner.servers.seed_builtins()
        for var, value in {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(port),
            "SMTP_FROM": "runner@example.com",
            "SMTP_SECURITY": "none",
            "SMTP_PASSWORD": SECRET,
        }.items():
            await runner.credentials.set("email", var, value)
        await runner.settings.change(
            {"approval_notify_email": "me@example.com", "approval_notify_url": receiver}
        )
        notifier = ApprovalNotifier(runner, from_position=await runner.store.head())
        ev = RunAwaitingApproval(
            run_id="r1",
            approval_id="apr_n1",
            tool="mcp__email__send",
            input={"to": "boss@example.com", "body": "[redacted]"},
            deadline=time.time() + 600,
            reason="ask first: mcp__email__send",
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(notifier.run)
            await runner.store.append(run_stream("r1"), [ev])
            with anyio.fail_after(20):
                while len(notifier.sent) < 2:
                    await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
        assert sorted(c for c, _ in notifier.sent) == ["email", "webhook"]
        (mail,) = inbox.messages
        text = mail.content.decode()
        assert mail.rcpt_tos == ["me@example.com"] and "mcp__email__send" in text
        assert "boss@example.com" in text and SECRET not in text
        (headers, body), *_ = Receiver.got
        key = signing_key(runner.config.data_dir)
        ts = headers["X-Runner-Timestamp"]
        assert hmac.compare_digest(headers["X-Runner-Signature"], sign(key, ts, body))
        data = json.loads(body)
        assert data["approval_id"] == "apr_n1" and data["tool"] == "mcp__email__send"
        assert (tmp_path / "approval_webhook.key").stat().st_mode & 0o077 == 0


async def test_dead_receiver_does_not_stop_the_notifier(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        dead = f"http://127.0.0.1:{free_port()}/nobody"
        await runner.settings.change({"approval_notify_url": dead})
        notifier = ApprovalNotifier(runner)
        ev = RunAwaitingApproval(
            run_id="r", approval_id="a", tool="Bash", input={}, deadline=time.time()
        )
        await notifier.notify(ev)  # logged, not raised
        assert notifier.sent == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("approval_notify_email", "a@b.c, d@e.f"),
        ("approval_notify_email", "nobody"),
        ("approval_notify_url", "file:///etc/passwd"),
        ("approval_notify_url", "https://user:pw@example.com/x"),
    ],
)
async def test_bad_targets_are_refused(tmp_path: Path, key: str, value: str) -> None:
    async with open_runner(tmp_path) as runner:
        with pytest.raises(InvalidInput) as exc:
            await runner.settings.change({key: value})
        assert exc.value.field == key
