"""Helpers for the SQLite-specific tests: the raw rows and the hash chain."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from events.codec import GENESIS_HASH, chain_hash


def verify_chain(path: Path) -> int:
    """Recompute the hash chain over every stored row; return how many rows it covers."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT position, stream, version, type, data, meta, recorded_at, hash "
            "FROM events ORDER BY position"
        ).fetchall()
    finally:
        conn.close()
    prev = GENESIS_HASH
    for n, (position, stream, version, type_, data, meta, at, stored) in enumerate(rows, 1):
        assert position == n, f"gap before position {position}"
        data = data.encode() if isinstance(data, str) else data
        meta = meta.encode() if isinstance(meta, str) else meta
        prev = chain_hash(prev, position, stream, version, type_, data, meta, at)
        assert stored == prev, f"hash chain broken at position {position}"
    return len(rows)


def insert_raw(path: Path, rows: list[tuple[str, int, str, bytes, bytes]]) -> None:
    """Append raw ``(stream, version, type, data, meta)`` rows with a correct chain."""
    conn = sqlite3.connect(path)
    try:
        last = conn.execute(
            "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1"
        ).fetchone()
        position, prev = last if last else (0, GENESIS_HASH)
        for stream, version, type_, data, meta in rows:
            position += 1
            prev = chain_hash(prev, position, stream, version, type_, data, meta, 1)
            conn.execute(
                "INSERT INTO events VALUES (?,?,?,?,?,?,?,?)",
                (position, stream, version, type_, data, meta, 1, prev),
            )
        conn.commit()
    finally:
        conn.close()
