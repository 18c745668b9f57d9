"""The built-in email server against a real local SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

from email import message_from_bytes
from pathlib import Path

import pytest

from runner.builtin_servers import email as email_server
from runner.servers.invoke import invoke_tool
from runner.servers.launch import builtin_launch
from tests.runner.servers.conftest import authenticator, server_tls_context

PASSWORD = "smtp-pass-Zq81xx"


def env_for(port: int, **extra: str) -> dict[str, str]:
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_FROM": "Runner <bot@runner.test>",
        **extra,
    }


@pytest.mark.anyio
async def test_send_over_stdio_plain(smtp, tmp_path: Path) -> None:
    inbox, port = smtp()
    launch = builtin_launch(tmp_path, "email", env_for(port, SMTP_SECURITY="none"))
    result = await invoke_tool(
        launch,
        "send_email",
        {"to": ["Ann <ann@example.test>"], "subject": "Daily news", "body": "Hello Ann"},
    )
    assert result.ok, result.error or result.text
    assert result.structured is not None and result.structured["accepted"] == ["ann@example.test"]
    (envelope,) = inbox.messages
    assert inbox.tls == [False]
    assert envelope.mail_from == "bot@runner.test"
    assert envelope.rcpt_tos == ["ann@example.test"]
    msg = message_from_bytes(envelope.content)
    assert msg["Subject"] == "Daily news"
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes) and payload.decode().strip() == "Hello Ann"


def test_starttls_with_auth(smtp, tls_cert) -> None:
    inbox, port = smtp(
        tls_context=server_tls_context(tls_cert),
        require_starttls=True,
        authenticator=authenticator("bot", PASSWORD),
    )
    env = env_for(
        port,
        SMTP_SECURITY="starttls",
        SMTP_USERNAME="bot",
        SMTP_PASSWORD=PASSWORD,
        SMTP_CA_FILE=str(tls_cert[0]),
    )
    out = email_server.send_email_from_env(
        ["a@x.test"], "Hi", "<b>bold</b>", html=True, bcc=["b@x.test"], env=env
    )
    assert out["accepted"] == ["a@x.test", "b@x.test"]
    (envelope,) = inbox.messages
    msg = message_from_bytes(envelope.content)
    assert "Bcc" not in msg and msg.is_multipart()
    assert inbox.tls == [True]

    wrong = {**env, "SMTP_PASSWORD": "wrong-password-77"}
    with pytest.raises(email_server.EmailError, match="login refused") as info:
        email_server.send_email_from_env(["a@x.test"], "Hi", "x", env=wrong)
    assert "wrong-password" not in str(info.value)


def test_implicit_ssl_and_certificate_checks(smtp, tls_cert) -> None:
    inbox, port = smtp(ssl_context=server_tls_context(tls_cert))
    env = env_for(port, SMTP_SECURITY="ssl", SMTP_CA_FILE=str(tls_cert[0]))
    email_server.send_email_from_env("c@x.test", "SSL", "body", env=env)
    assert len(inbox.messages) == 1
    # Without trusting the self-signed CA the connection is refused, not silently downgraded.
    untrusted = {k: v for k, v in env.items() if k != "SMTP_CA_FILE"}
    with pytest.raises(email_server.EmailError, match=r"TLS failed|cannot talk"):
        email_server.send_email_from_env("c@x.test", "SSL", "body", env=untrusted)
    assert len(inbox.messages) == 1


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({}, "SMTP_HOST is not set"),
        ({"SMTP_HOST": "h", "SMTP_FROM": "nobody"}, "SMTP_FROM"),
        ({"SMTP_HOST": "h", "SMTP_FROM": "a@b.c", "SMTP_SECURITY": "tls9"}, "SMTP_SECURITY"),
        ({"SMTP_HOST": "h", "SMTP_FROM": "a@b.c", "SMTP_PORT": "x"}, "SMTP_PORT"),
    ],
)
def test_bad_settings(env: dict[str, str], problem: str) -> None:
    with pytest.raises(email_server.EmailError, match=problem):
        email_server.settings_from_env(env)
    assert email_server.status_from_env(env)["ready"] is False


def test_message_checks() -> None:
    settings = email_server.settings_from_env(
        {"SMTP_HOST": "h", "SMTP_FROM": "a@b.c", "SMTP_ALLOWED_RECIPIENTS": "@ok.test, x@y.test"}
    )
    email_server.build_message(settings, ["m@ok.test", "x@y.test"], "s", "b")
    with pytest.raises(email_server.EmailError, match="not allowed"):
        email_server.build_message(settings, ["m@evil.test"], "s", "b")
    with pytest.raises(email_server.EmailError, match="one line"):
        email_server.build_message(settings, ["m@ok.test"], "s\nBcc: x@evil.test", "b")
    with pytest.raises(email_server.EmailError, match="invalid"):
        email_server.build_message(settings, ["not-an-address"], "s", "b")
    with pytest.raises(email_server.EmailError, match="at least one"):
        email_server.build_message(settings, [], "s", "b")
    status = email_server.status_from_env(
        {"SMTP_HOST": "h", "SMTP_FROM": "a@b.c", "SMTP_PASSWORD": PASSWORD, "SMTP_USERNAME": "u"}
    )
    assert status["ready"] is True and PASSWORD not in repr(status)
