"""Reads of the access views (admins, sessions, API tokens, OAuth clients and tokens)."""

from __future__ import annotations

from events.views import Query

LIVE_SESSIONS = Query("access.live_sessions", "SELECT k FROM v_sessions WHERE live = 1")
TOKENS = Query("access.tokens", "SELECT doc FROM v_api_tokens ORDER BY k")
TOKEN_BY_HASH = Query("access.token_by_hash", "SELECT doc FROM v_api_tokens WHERE token_hash = ?")
#: OAuth clients no token was ever issued to (candidates for pruning).
CLIENTS_WITHOUT_TOKENS = Query(
    "access.clients_without_tokens",
    "SELECT k, doc FROM v_oauth_clients WHERE k NOT IN "
    "(SELECT DISTINCT json_extract(doc, '$.client_id') FROM v_oauth_tokens) LIMIT ?",
    dialects=(
        (
            "postgresql",
            "SELECT k, doc FROM v_oauth_clients WHERE k NOT IN "
            "(SELECT DISTINCT convert_from(doc, 'UTF8')::json ->> 'client_id' "
            "FROM v_oauth_tokens) LIMIT ?",
        ),
    ),
)
