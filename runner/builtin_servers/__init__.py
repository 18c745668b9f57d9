"""Built-in MCP servers shipped with the runner, and their registry.

Each module is a standalone stdio server (stdlib + ``mcp`` only) started as
``python -m runner.builtin_servers.<module>``; its settings come from environment variables
(credentials injected by the runner) and its files live in ``DATA_DIR``.
"""

from __future__ import annotations

import msgspec

from events.servers import EnvVarSpec


class BuiltinServer(msgspec.Struct, frozen=True, kw_only=True):
    """A shipped server: registry name, what it does, its module and its settings."""

    name: str
    description: str
    module: str
    env: tuple[EnvVarSpec, ...] = ()


def _var(
    name: str, description: str, *, required: bool = False, sensitive: bool = False
) -> EnvVarSpec:
    return EnvVarSpec(name=name, description=description, required=required, sensitive=sensitive)


BUILTIN_SERVERS: dict[str, BuiltinServer] = {
    s.name: s
    for s in (
        BuiltinServer(
            name="email",
            description="Send e-mail through SMTP (STARTTLS, SSL or plain; optional auth).",
            module="runner.builtin_servers.email",
            env=(
                _var("SMTP_HOST", "SMTP server host name", required=True),
                _var("SMTP_PORT", "SMTP port (default 587 for starttls, 465 for ssl, 25 for none)"),
                _var("SMTP_USERNAME", "SMTP login user (leave empty for no auth)"),
                _var("SMTP_PASSWORD", "SMTP login password", sensitive=True),
                _var("SMTP_FROM", "Sender address, e.g. 'Runner <bot@example.com>'", required=True),
                _var("SMTP_SECURITY", "starttls (default), ssl or none"),
                _var("SMTP_CA_FILE", "PEM file of extra trusted CA certificates"),
                _var("SMTP_ALLOWED_RECIPIENTS", "Comma-separated addresses or @domains allowed"),
            ),
        ),
        BuiltinServer(
            name="http_fetch",
            description="Fetch web pages and APIs over HTTP(S), only from allowed domains.",
            module="runner.builtin_servers.http_fetch",
            env=(
                _var(
                    "HTTP_FETCH_ALLOWED_DOMAINS",
                    "Comma-separated domains (subdomains included), '*.example.com', or '*'",
                    required=True,
                ),
                _var("HTTP_FETCH_MAX_BYTES", "Largest body returned (default 1000000)"),
                _var("HTTP_FETCH_TIMEOUT", "Seconds per request (default 20)"),
            ),
        ),
        BuiltinServer(
            name="memory",
            description="A persistent key-value memory for a job (get, set, list, delete).",
            module="runner.builtin_servers.memory",
            env=(_var("MEMORY_MAX_KEYS", "Most keys kept (default 10000)"),),
        ),
    )
}


def get_builtin(name: str) -> BuiltinServer | None:
    """The registry entry of a built-in server, or None."""
    return BUILTIN_SERVERS.get(name)
