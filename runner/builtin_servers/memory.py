"""Built-in ``memory`` server: a persistent key-value store for a job, in its ``DATA_DIR``.

Standalone (stdlib + ``mcp``): ``python -m runner.builtin_servers.memory``. One SQLite file,
``$DATA_DIR/memory.sqlite3``; give each job its own ``DATA_DIR`` for per-job memory.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MAX_KEY_CHARS = 200
MAX_VALUE_CHARS = 256 * 1024
DEFAULT_MAX_KEYS = 10_000
DB_FILE = "memory.sqlite3"


class MemoryStoreError(Exception):
    """A request the store refuses (bad key, too large, full)."""


class MemoryStore:
    """Key-value pairs in one SQLite file; a fresh connection per call (thread-safe)."""

    def __init__(self, folder: Path, *, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / DB_FILE
        self.max_keys = max_keys
        with self._db() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL,"
                " updated_at REAL NOT NULL)"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MemoryStore:
        env = os.environ if env is None else env
        folder = env.get("DATA_DIR") or ""
        if not folder:
            raise MemoryStoreError("DATA_DIR is not set")
        max_keys = int(env.get("MEMORY_MAX_KEYS", "") or DEFAULT_MAX_KEYS)
        return cls(Path(folder), max_keys=max_keys)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10)
        try:
            with db:
                yield db
        finally:
            db.close()

    @staticmethod
    def _check_key(key: str) -> str:
        if not key or len(key) > MAX_KEY_CHARS:
            raise MemoryStoreError(f"a key must be 1-{MAX_KEY_CHARS} characters")
        return key

    def get(self, key: str) -> str | None:
        with self._db() as db:
            row = db.execute("SELECT value FROM kv WHERE key = ?", (self._check_key(key),))
            found = row.fetchone()
        return None if found is None else str(found[0])

    def set(self, key: str, value: str) -> None:
        self._check_key(key)
        if len(value) > MAX_VALUE_CHARS:
            raise MemoryStoreError(f"a value must be at most {MAX_VALUE_CHARS} characters")
        with self._db() as db:
            exists = db.execute("SELECT 1 FROM kv WHERE key = ?", (key,)).fetchone()
            if not exists and db.execute("SELECT COUNT(*) FROM kv").fetchone()[0] >= self.max_keys:
                raise MemoryStoreError(f"memory is full ({self.max_keys} keys); delete some first")
            db.execute(
                "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key)"
                " DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (key, value, time.time()),
            )

    def delete(self, key: str) -> bool:
        with self._db() as db:
            cur = db.execute("DELETE FROM kv WHERE key = ?", (self._check_key(key),))
            return cur.rowcount > 0

    def keys(self, prefix: str = "", limit: int = 100) -> list[str]:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with self._db() as db:
            rows = db.execute(
                "SELECT key FROM kv WHERE key LIKE ? ESCAPE '\\' ORDER BY key LIMIT ?",
                (escaped + "%", max(1, min(limit, 1000))),
            ).fetchall()
        return [str(r[0]) for r in rows]


def build_server() -> Any:
    """The MCP server object (imported lazily so the store above stays cheap to import)."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    server = MCPServer("memory", instructions="Remember things between runs of this job.")

    def store() -> MemoryStore:
        try:
            return MemoryStore.from_env()
        except MemoryStoreError as exc:
            raise ToolError(str(exc)) from None

    @server.tool()
    def get(key: str) -> dict[str, Any]:
        """The value stored under `key` (found=false if there is none)."""
        try:
            value = store().get(key)
        except MemoryStoreError as exc:
            raise ToolError(str(exc)) from None
        return {"key": key, "found": value is not None, "value": value}

    @server.tool(name="set")
    def set_(key: str, value: str) -> dict[str, Any]:
        """Store `value` (text; use JSON for structure) under `key`, replacing any old value."""
        try:
            store().set(key, value)
        except MemoryStoreError as exc:
            raise ToolError(str(exc)) from None
        return {"key": key, "stored": True}

    @server.tool()
    def delete(key: str) -> dict[str, Any]:
        """Forget `key`."""
        try:
            return {"key": key, "deleted": store().delete(key)}
        except MemoryStoreError as exc:
            raise ToolError(str(exc)) from None

    @server.tool()
    def list_keys(prefix: str = "", limit: int = 100) -> dict[str, Any]:
        """Stored keys starting with `prefix`, in order (at most `limit`, up to 1000)."""
        return {"keys": store().keys(prefix, limit)}

    return server


if __name__ == "__main__":
    build_server().run("stdio")
