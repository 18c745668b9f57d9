"""OAuth consent and client lifetime as events, so any process (and a restart) sees them.

A pending authorization request lives on ``oauth-<client_id>`` until the admin decides it or it
expires; the consent page's ``txn`` is a bearer value, so only its SHA-256 is recorded. Clients
registered dynamically that never obtained a token are pruned after a while.
"""

from __future__ import annotations

from typing import Any

import msgspec


class OAuthConsentRequested(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    client_id: str
    txn_hash: str
    client_name: str
    params: dict[str, Any]
    expires_at: float


class OAuthConsentDecided(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    client_id: str
    txn_hash: str
    decision: str  # "approved" | "denied"


class OAuthClientPruned(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    client_id: str
    reason: str


OAuthConsentEvent = OAuthConsentRequested | OAuthConsentDecided | OAuthClientPruned
