"""The model relay: runs reach the model API only through it, with a per-run token.

See ``relay.py`` (the object the service and executor use), ``app.py`` (HTTP), ``upstream.py``
(credential, retries, concurrency cap), ``grants.py`` (tokens), ``budgets.py`` (live limits),
``meter.py`` (usage from the bytes) and ``prices.py`` (the price table).
"""

from __future__ import annotations

from actors.relay.relay import Relay, RelayGrant, RelayUnavailable
from actors.relay.settings import RelaySettings, relay_settings

__all__ = ["Relay", "RelayGrant", "RelaySettings", "RelayUnavailable", "relay_settings"]
