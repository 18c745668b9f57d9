"""Which chain key a PostgreSQL log is keyed with, shared by every node that appends to it.

The keyed (HMAC) chain needs one key for the whole log, whichever node appends. The first store
to open an empty log with a key file records the key's id in ``store_info.chain_key_id`` (under
the writer lock, so two nodes starting at once cannot both win); every later store must hold the
same key (copy ``chain.key`` to each node, as ``secret.key``) or it opens read-only with the
reason, like an SQLite log whose key is missing. A log that already has rows but no recorded key
(written without one) stays on the plain chain.
"""

from __future__ import annotations

from pathlib import Path

from events.chain import ChainKey, ChainState, load_key
from events.postgres_schema import WRITE_LOCK_KEY, connect, ensure_schema


def resolve_key(url: str, key_path: Path) -> tuple[ChainKey | None, ChainState]:
    """The key to append with (None: plain chain only) and the chain state to open in."""
    conn = connect(url)
    try:
        ensure_schema(conn)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
            row = conn.execute("SELECT value FROM store_info WHERE key = 'chain_key_id'").fetchone()
            recorded = None if row is None else str(row[0])
            if recorded is None:
                (rows,) = conn.execute("SELECT count(*) FROM events").fetchone() or (0,)
                if rows:
                    return None, ChainState()
                key = load_key(key_path, create=True)
                assert key is not None
                conn.execute(
                    "INSERT INTO store_info (key, value) VALUES ('chain_key_id', %s)",
                    (key.key_id,),
                )
                return key, ChainState(key_id=key.key_id)
    finally:
        conn.close()
    key = load_key(key_path, create=False)
    if key is None or key.key_id != recorded:
        found = "is missing" if key is None else f"has id {key.key_id}"
        return None, ChainState(
            ok=False,
            detail=f"this PostgreSQL log's keyed chain uses chain key id {recorded}, but "
            f"{key_path} {found}: copy chain.key from a node that appends to this log; "
            "appending is refused until then",
        )
    return key, ChainState(key_id=key.key_id)
