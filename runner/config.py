"""Configuration from the environment and an optional TOML file.

Precedence: environment variables > ``RUNNER_CONFIG`` file (or ``<data_dir>/config.toml``) >
defaults. ``RUNNER_DATA_DIR`` (default ``./data``) holds everything the service writes.
Secrets read here (API key, admin password, secret key) are never logged or shown.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from runner.errors import InvalidInput

#: Environment variables passed to Claude Code runs for authentication (API key or cloud).
AUTH_ENV_VARS = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "AWS_REGION",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_BEARER_TOKEN_BEDROCK",
    "ANTHROPIC_VERTEX_PROJECT_ID",
    "CLOUD_ML_REGION",
    "GOOGLE_APPLICATION_CREDENTIALS",
)


class Config(msgspec.Struct, kw_only=True):
    """Process-level configuration (runtime-changeable settings live in the log instead)."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    auth_env: dict[str, str] = {}
    claude_config_dir: Path | None = None
    cli_path: str | None = None
    admin_password: str | None = None
    secret_key: str | None = None
    extra_redirect_uris: tuple[str, ...] = ()
    log_level: str = "INFO"
    max_api_retries: int = 3
    relay_max_concurrent: int = 8
    """Model calls in flight to the upstream API at once, service-wide (the relay's cap)."""
    node_name: str = ""
    """This node's name (``RUNNER_NODE_NAME``, default the hostname), shown with its runs."""
    node_labels: tuple[str, ...] = ()
    """Labels this node carries (``RUNNER_NODE_LABELS=gpu,eu``); a job pinned to a label runs
    only on nodes that carry it."""

    database_url: str | None = None
    """``RUNNER_DATABASE_URL``: a ``postgresql://`` URL puts the log on PostgreSQL (several
    nodes may share it); unset, the log is the SQLite file ``db_path``."""

    @property
    def db_path(self) -> Path:
        return self.data_dir / "runner.db"

    @property
    def database(self) -> str | Path:
        """Where the log lives: the PostgreSQL URL, or the SQLite file."""
        return self.database_url or self.db_path

    @property
    def on_sqlite(self) -> bool:
        """Whether the log is the embedded SQLite file (file-level tools work on it)."""
        return not self.database_url

    @property
    def public_origin(self) -> str:
        """The one origin every interface shows in URLs (webhook URLs, the OAuth issuer, the
        MCP resource): ``public_url`` (``RUNNER_PUBLIC_URL`` / config file) without a trailing
        slash, else ``http://127.0.0.1:<port>``. The dashboard, the API, the CLI and MCP over
        stdio and HTTP all read it here, so they agree whatever host a request came in on."""
        if self.public_url and self.public_url.strip():
            return self.public_url.strip().rstrip("/")
        return f"http://127.0.0.1:{self.port}"

    def __repr__(self) -> str:  # never show secrets
        return f"Config(data_dir={self.data_dir!s}, host={self.host}, port={self.port})"


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"config file {path}: {exc}")
    section = data.get("runner", data)
    return dict(section)


def load_config(env: Mapping[str, str] | None = None) -> Config:
    """Build the configuration from ``env`` (default ``os.environ``) and the config file."""
    env = os.environ if env is None else env
    data_dir = Path(env.get("RUNNER_DATA_DIR", "./data")).resolve()
    file_path = Path(env["RUNNER_CONFIG"]) if env.get("RUNNER_CONFIG") else data_dir / "config.toml"
    file_conf = _read_file(file_path) if file_path.is_file() else {}
    if env.get("RUNNER_CONFIG") and not file_path.is_file():
        raise InvalidInput(f"RUNNER_CONFIG names {file_path}, which does not exist")

    def pick(key: str, env_name: str, default: Any = None) -> Any:
        if env_name in env and env[env_name] != "":
            return env[env_name]
        return file_conf.get(key, default)

    auth_env = {k: env[k] for k in AUTH_ENV_VARS if env.get(k)}
    auth_env.update({k: str(v) for k, v in dict(file_conf.get("auth_env", {})).items()})
    host_claude = pick("claude_config_dir", "RUNNER_CLAUDE_CONFIG_DIR")
    if host_claude is None:
        default_dir = Path(env.get("HOME", "/nonexistent")) / ".claude"
        host_claude = default_dir if (default_dir / ".credentials.json").is_file() else None
    try:
        port = int(pick("port", "RUNNER_PORT", 8080))
        retries = int(pick("max_api_retries", "RUNNER_MAX_API_RETRIES", 3))
        relay_cap = int(pick("relay_max_concurrent", "RUNNER_RELAY_MAX_CONCURRENT", 8))
    except ValueError as exc:
        raise InvalidInput(
            "RUNNER_PORT / RUNNER_MAX_API_RETRIES / RUNNER_RELAY_MAX_CONCURRENT must be "
            f"integers: {exc}"
        )
    if not 1 <= relay_cap <= 1000:
        raise InvalidInput(f"RUNNER_RELAY_MAX_CONCURRENT {relay_cap} must be between 1 and 1000")
    if not 0 <= port <= 65535:
        raise InvalidInput(f"RUNNER_PORT {port} is not a TCP port (0-65535)")
    database_url = pick("database_url", "RUNNER_DATABASE_URL")
    if database_url is not None:
        database_url = str(database_url).strip() or None
    if database_url is not None and not database_url.startswith(("postgresql://", "postgres://")):
        raise InvalidInput(
            "RUNNER_DATABASE_URL must be a postgresql:// URL (postgresql://user@host:5432/db); "
            "leave it unset for the SQLite file under the data directory"
        )
    redirects = pick("extra_redirect_uris", "RUNNER_REDIRECT_URIS", ())
    if isinstance(redirects, str):
        redirects = tuple(u for u in redirects.split(",") if u.strip())
    from runner.node_labels import node_name, parse_labels

    return Config(
        node_name=node_name(pick("node_name", "RUNNER_NODE_NAME")),
        node_labels=parse_labels(pick("node_labels", "RUNNER_NODE_LABELS")),
        data_dir=data_dir,
        host=str(pick("host", "RUNNER_HOST", "127.0.0.1")),
        port=port,
        public_url=pick("public_url", "RUNNER_PUBLIC_URL"),
        auth_env=auth_env,
        claude_config_dir=Path(host_claude) if host_claude else None,
        cli_path=pick("cli_path", "RUNNER_CLI_PATH"),
        admin_password=pick("admin_password", "RUNNER_ADMIN_PASSWORD"),
        secret_key=pick("secret_key", "RUNNER_SECRET_KEY"),
        extra_redirect_uris=tuple(redirects),
        log_level=str(pick("log_level", "RUNNER_LOG_LEVEL", "INFO")),
        max_api_retries=retries,
        relay_max_concurrent=relay_cap,
        database_url=database_url,
    )
