"""Helpers for the SQLite-specific tests: the raw rows and the hash chains (plain and keyed)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from events.chain import (
    GENESIS,
    KEY_FILE,
    anchor,
    data_digest,
    hash_v2,
    info,
    load_key,
    mac_link,
    walk,
)
from events.codec import chain_hash


def verify_chain(path: Path) -> int:
    """Check both chains over every stored row; return how many rows they cover."""
    conn = sqlite3.connect(path)
    try:
        key = load_key(path.parent / KEY_FILE, create=False)
        res = walk(conn, key)
        (count,) = conn.execute("SELECT count(*) FROM events").fetchone()
    finally:
        conn.close()
    assert not res.breaks, f"chain broken: {res.breaks[:3]}"
    assert res.checked == count
    return int(count)


def insert_raw(path: Path, rows: list[tuple[str, int, str, bytes, bytes]]) -> None:
    """Append raw ``(stream, version, type, data, meta)`` rows with correct chains."""
    conn = sqlite3.connect(path)
    try:
        key = load_key(path.parent / KEY_FILE, create=False)
        v2_from = int(info(conn, "v2_from") or 1)
        last = conn.execute(
            "SELECT position, hash, mac FROM events ORDER BY position DESC LIMIT 1"
        ).fetchone()
        position, prev, prev_mac = last if last else (0, GENESIS, "")
        for stream, version, type_, data, meta in rows:
            position += 1
            mac = None
            if position >= v2_from:
                if key and position == v2_from:
                    prev_mac = anchor(key.secret, prev)
                prev = hash_v2(prev, position, stream, version, type_, data_digest(data), meta, 1)
                if key:
                    mac = prev_mac = mac_link(key.secret, prev_mac, prev)
            else:
                prev = chain_hash(prev, position, stream, version, type_, data, meta, 1)
            conn.execute(
                "INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?)",
                (position, stream, version, type_, data, meta, 1, prev, mac),
            )
        conn.commit()
    finally:
        conn.close()
