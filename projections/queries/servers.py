"""Reads of the tool-server views (``v_servers``, ``v_credentials``, ``v_tool_invocations``)."""

from __future__ import annotations

from events.views import Query

ALL = Query("servers.all", "SELECT doc FROM v_servers ORDER BY k")
ENABLED = Query("servers.enabled", "SELECT k, enabled FROM v_servers")
CREDENTIALS = Query(
    "servers.credentials", "SELECT doc FROM v_credentials WHERE server = ? ORDER BY k"
)
INVOCATIONS = Query(
    "servers.invocations",
    "SELECT doc FROM v_tool_invocations WHERE server = ? ORDER BY position DESC LIMIT ?",
)
ALL_ROWS = Query("servers.all_rows", "SELECT doc FROM v_servers")
