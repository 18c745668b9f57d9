"""Built-in ``email`` server: send mail through SMTP (STARTTLS, implicit SSL or plain, auth).

Standalone (stdlib + ``mcp``): ``python -m runner.builtin_servers.email``. Settings from env:
SMTP_HOST, SMTP_PORT, SMTP_USERNAME, SMTP_PASSWORD, SMTP_FROM, SMTP_SECURITY
(``starttls`` | ``ssl`` | ``none``), SMTP_CA_FILE, SMTP_ALLOWED_RECIPIENTS.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, getaddresses, make_msgid, parseaddr
from typing import Any, Literal

Security = Literal["starttls", "ssl", "none"]
DEFAULT_PORTS: dict[str, int] = {"starttls": 587, "ssl": 465, "none": 25}
MAX_RECIPIENTS = 50
MAX_BODY_CHARS = 1_000_000


class EmailError(Exception):
    """A send that cannot be done; the message never contains the password."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    security: Security = "starttls"
    username: str = ""
    password: str = field(default="", repr=False)
    ca_file: str = ""
    allowed: tuple[str, ...] = ()
    timeout: float = 30.0


def settings_from_env(env: Mapping[str, str] | None = None) -> SmtpSettings:
    """Read and check the SMTP settings; raises :class:`EmailError` naming what is wrong."""
    env = os.environ if env is None else env
    host = env.get("SMTP_HOST", "").strip()
    sender = env.get("SMTP_FROM", "").strip()
    security = (env.get("SMTP_SECURITY", "") or "starttls").strip().lower()
    problems = []
    if not host:
        problems.append("SMTP_HOST is not set")
    if not sender or "@" not in parseaddr(sender)[1]:
        problems.append("SMTP_FROM is not a valid address")
    if security not in DEFAULT_PORTS:
        problems.append("SMTP_SECURITY must be starttls, ssl or none")
    port_text = env.get("SMTP_PORT", "").strip()
    try:
        port = int(port_text) if port_text else DEFAULT_PORTS.get(security, 587)
    except ValueError:
        problems.append("SMTP_PORT is not a number")
        port = 0
    if problems:
        raise EmailError("; ".join(problems))
    allowed = tuple(
        a.strip().lower() for a in env.get("SMTP_ALLOWED_RECIPIENTS", "").split(",") if a.strip()
    )
    return SmtpSettings(
        host=host,
        port=port,
        sender=sender,
        security=security,  # type: ignore[arg-type]
        username=env.get("SMTP_USERNAME", "").strip(),
        password=env.get("SMTP_PASSWORD", ""),
        ca_file=env.get("SMTP_CA_FILE", "").strip(),
        allowed=allowed,
    )


def _addresses(value: str | Sequence[str] | None, what: str) -> list[str]:
    items = [value] if isinstance(value, str) else list(value or ())
    out = []
    for name, addr in getaddresses([i for i in items if i]):
        if not addr or "@" not in addr or any(c in addr for c in "\r\n<> "):
            raise EmailError(f"invalid {what} address: {addr or name!r}")
        out.append(formataddr((name, addr)) if name else addr)
    return out


def _allowed(addr: str, allowed: tuple[str, ...]) -> bool:
    bare = parseaddr(addr)[1].lower()
    if not allowed:
        return True
    return any(bare == a or (a.startswith("@") and bare.endswith(a)) for a in allowed)


def build_message(
    settings: SmtpSettings,
    to: str | Sequence[str],
    subject: str,
    body: str,
    *,
    html: bool = False,
    cc: str | Sequence[str] | None = None,
    bcc: str | Sequence[str] | None = None,
    reply_to: str | None = None,
) -> tuple[EmailMessage, list[str]]:
    """The message and its envelope recipients (to + cc + bcc); checks every address."""
    to_list, cc_list, bcc_list = _addresses(to, "to"), _addresses(cc, "cc"), _addresses(bcc, "bcc")
    recipients = to_list + cc_list + bcc_list
    if not to_list:
        raise EmailError("at least one 'to' address is required")
    if len(recipients) > MAX_RECIPIENTS:
        raise EmailError(f"at most {MAX_RECIPIENTS} recipients per message")
    blocked = [r for r in recipients if not _allowed(r, settings.allowed)]
    if blocked:
        raise EmailError(f"recipient(s) not allowed by SMTP_ALLOWED_RECIPIENTS: {blocked}")
    if "\n" in subject or "\r" in subject:
        raise EmailError("the subject must be one line")
    if len(body) > MAX_BODY_CHARS:
        raise EmailError(f"the body is longer than {MAX_BODY_CHARS} characters")
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = ", ".join(to_list)
    if cc_list:
        msg["Cc"] = ", ".join(cc_list)
    if reply_to:
        msg["Reply-To"] = ", ".join(_addresses(reply_to, "reply-to"))
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain=parseaddr(settings.sender)[1].split("@")[-1])
    if html:
        msg.set_content("This message is in HTML; use an HTML-capable mail reader.")
        msg.add_alternative(body, subtype="html")
    else:
        msg.set_content(body)
    return msg, [parseaddr(r)[1] for r in recipients]


def _tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=settings.ca_file or None)


def send_message(settings: SmtpSettings, msg: EmailMessage, recipients: list[str]) -> list[str]:
    """Deliver ``msg`` to the SMTP server; returns the recipients it accepted."""
    try:
        client: smtplib.SMTP
        if settings.security == "ssl":
            ctx = _tls_context(settings)
            client = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=ctx
            )
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with client:
            client.ehlo()
            if settings.security == "starttls":
                client.starttls(context=_tls_context(settings))
                client.ehlo()
            if settings.username:
                client.login(settings.username, settings.password)
            refused = client.send_message(msg, to_addrs=recipients)
    except smtplib.SMTPAuthenticationError as exc:
        raise EmailError(f"SMTP login refused ({exc.smtp_code})") from None
    except smtplib.SMTPNotSupportedError as exc:
        raise EmailError(f"SMTP server does not support this: {exc}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise EmailError(f"all recipients refused: {sorted(exc.recipients)}") from None
    except smtplib.SMTPResponseException as exc:
        raise EmailError(f"SMTP error {exc.smtp_code}: {exc.smtp_error!r}") from None
    except ssl.SSLError as exc:
        raise EmailError(f"TLS failed: {exc.reason or exc}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise EmailError(f"cannot talk to {settings.host}:{settings.port}: {exc}") from None
    return [r for r in recipients if r not in refused]


def send_email_from_env(
    to: str | Sequence[str],
    subject: str,
    body: str,
    *,
    html: bool = False,
    cc: str | Sequence[str] | None = None,
    bcc: str | Sequence[str] | None = None,
    reply_to: str | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Everything the ``send_email`` tool does, callable without MCP (tests, scripts)."""
    settings = settings_from_env(env)
    msg, recipients = build_message(
        settings, to, subject, body, html=html, cc=cc, bcc=bcc, reply_to=reply_to
    )
    accepted = send_message(settings, msg, recipients)
    return {"sent": True, "accepted": accepted, "message_id": str(msg["Message-ID"])}


def status_from_env(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Configuration summary without the password."""
    try:
        s = settings_from_env(env)
    except EmailError as exc:
        return {"ready": False, "problem": str(exc)}
    return {
        "ready": True,
        "host": s.host,
        "port": s.port,
        "security": s.security,
        "from": s.sender,
        "auth": bool(s.username),
        "allowed_recipients": list(s.allowed) or "any",
    }


def build_server() -> Any:
    """The MCP server object (imported lazily so the helpers above stay cheap to import)."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    server = MCPServer("email", instructions="Send e-mail through the configured SMTP server.")

    @server.tool()
    def send_email(
        to: list[str] | str,
        subject: str,
        body: str,
        html: bool = False,
        cc: list[str] | str | None = None,
        bcc: list[str] | str | None = None,
        reply_to: str | None = None,
    ) -> dict[str, Any]:
        """Send an e-mail. `to`/`cc`/`bcc`: addresses (a list, or one comma-separated string);
        `html` sends `body` as HTML."""
        try:
            return send_email_from_env(
                to, subject, body, html=html, cc=cc, bcc=bcc, reply_to=reply_to
            )
        except EmailError as exc:
            raise ToolError(str(exc)) from None

    @server.tool()
    def email_status() -> dict[str, Any]:
        """Whether e-mail is configured, and how (never shows the password)."""
        return status_from_env()

    return server


if __name__ == "__main__":
    build_server().run("stdio")
