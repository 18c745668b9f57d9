"""Reads of the assistant's conversations view (``v_conversations``)."""

from __future__ import annotations

from events.views import Query

# ``owner``, not ``user``: ``user`` is a reserved word on PostgreSQL.
OF_USER = Query(
    "assistant.of_user",
    "SELECT doc FROM v_conversations WHERE owner = ? ORDER BY updated_at DESC LIMIT ?",
)
LATEST = Query(
    "assistant.latest", "SELECT doc FROM v_conversations ORDER BY updated_at DESC LIMIT ?"
)
