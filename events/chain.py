"""The two chains over the log: the plain SHA-256 chain and the keyed HMAC chain.

* **Plain chain** (``hash`` column): anyone holding the file can check it. Since the store
  schema 2 ("v2 rows", from the position recorded as ``v2_from``) a row's hash covers the
  SHA-256 *digest* of its event data rather than the data itself, so erasing the data of a row
  (output, webhook bodies) keeps the chain verifiable: the digest of an erased row is kept in the
  ``erased`` table. Rows written before the upgrade keep their v1 hash over the raw bytes.
* **Keyed chain** (``mac`` column, v2 rows only): ``HMAC-SHA256(key, prev_mac | hash)`` with a
  key kept outside the database (``chain.key`` beside it, 0600). Whoever can write the file can
  recompute the plain chain, but not the keyed one. The first keyed row's predecessor is an
  anchor over the plain hash of the row before ``v2_from``, so the keyed chain also pins every
  older row through the plain chain.
* **Checkpoint**: the last verified ``(position, hash, mac)``, itself MACed, so a start only
  verifies what was appended since.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec

GENESIS = "0" * 64
KEY_FILE = "chain.key"
_SEP = b"\x1f"


class ChainKey(msgspec.Struct, frozen=True):
    """The HMAC key; ``key_id`` names it without revealing it (recorded in the database)."""

    secret: bytes

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"claude-runner chain key id\x1f" + self.secret).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"ChainKey(id={self.key_id})"


def load_key(path: Path, *, create: bool) -> ChainKey | None:
    """Read the key file (hex), creating it 0600 with 32 random bytes when asked and absent."""
    try:
        return ChainKey(bytes.fromhex(path.read_text().strip()))
    except FileNotFoundError:
        if not create:
            return None
    except ValueError as exc:
        raise ValueError(f"{path} is not a hex chain key: {exc}") from None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return load_key(path, create=False)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return load_key(path, create=False)


def data_digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hash_v2(
    prev_hash: str,
    position: int,
    stream: str,
    version: int,
    type_: str,
    digest: bytes,
    meta: bytes,
    recorded_at_us: int,
) -> str:
    """The plain link of a v2 row: like v1, but over the data's digest (erasable data)."""
    head = f"{prev_hash}\x1f{position}\x1f{stream}\x1f{version}\x1f{type_}\x1f{recorded_at_us}\x1f"
    return hashlib.sha256(b"".join((head.encode(), digest, _SEP, meta))).hexdigest()


def mac_link(key: bytes, prev_mac: str, row_hash: str) -> str:
    """The keyed link: the plain hash already commits to the row and its predecessors."""
    return hmac.digest(key, (prev_mac + "\x1f" + row_hash).encode(), "sha256").hex()


def mac_linker(key: bytes) -> Callable[[str, str], str]:
    """``mac_link`` for one key, copying a keyed prototype (a third cheaper than re-keying)."""
    proto = hmac.new(key, digestmod=hashlib.sha256)

    def link(prev_mac: str, row_hash: str) -> str:
        h = proto.copy()
        h.update((prev_mac + "\x1f" + row_hash).encode())
        return h.hexdigest()

    return link


def anchor(key: bytes, hash_before: str) -> str:
    """The keyed chain's start: pins the plain chain up to the row before ``v2_from``."""
    return hmac.digest(key, b"anchor\x1f" + hash_before.encode(), "sha256").hex()


def checkpoint_mac(key: bytes, value: str) -> str:
    return hmac.digest(key, b"checkpoint\x1f" + value.encode(), "sha256").hex()


def info(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM store_info WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_info(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO store_info(key, value) VALUES (?, ?)", (key, value))


class Break(msgspec.Struct, frozen=True, kw_only=True):
    """One failed check: which chain, where, what."""

    chain: str  # "plain" | "keyed" | "gap"
    position: int
    detail: str


class ChainResult(msgspec.Struct, kw_only=True):
    """What a walk over a range of the log found (``last_mac``: the keyed chain's state)."""

    checked: int = 0
    last_position: int = 0
    last_hash: str = GENESIS
    last_mac: str = ""
    breaks: list[Break] = []
    unverifiable: list[int] = []  # erased v1 rows: their plain link cannot be recomputed


ROW_SQL = (
    "SELECT position, stream, version, type, data, meta, recorded_at, hash, mac "
    "FROM events WHERE position > ? ORDER BY position LIMIT ?"
)


def _rows(conn: sqlite3.Connection, after: int, page: int = 5000) -> Iterator[tuple[Any, ...]]:
    while True:
        rows = conn.execute(ROW_SQL, (after, page)).fetchall()
        yield from rows
        if len(rows) < page:
            return
        after = int(rows[-1][0])


def _b(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def walk(
    conn: sqlite3.Connection,
    key: ChainKey | None,
    *,
    after: int = 0,
    prev_hash: str = GENESIS,
    prev_mac: str = "",
    limit_breaks: int = 1000,
) -> ChainResult:
    """Check both chains for the rows after ``after`` (whose hash/mac are ``prev_*``).

    Checking continues past a break from the stored values, so one changed row is reported
    once by the plain chain, and the keyed chain names the first MAC'd row at or after it.
    """
    from events.codec import chain_hash  # codec imports the catalogue; keep this module light

    v2_from = int(info(conn, "v2_from") or 1)
    erased = dict(conn.execute("SELECT position, digest FROM erased").fetchall())
    res = ChainResult(last_position=after, last_hash=prev_hash, last_mac=prev_mac)
    expected = after + 1
    secret = key.secret if key else None
    link = mac_linker(secret) if secret is not None else None
    last_unmacd = 0
    for row in _rows(conn, after):
        position, stream, version, type_, data, meta, at, stored, mac = row
        assert isinstance(position, int)
        res.checked += 1
        if position != expected and len(res.breaks) < limit_breaks:
            res.breaks.append(
                Break(
                    chain="gap",
                    position=expected,
                    detail=f"positions {expected}..{position - 1} are missing",
                )
            )
        data_b, meta_b = _b(data), _b(meta)
        digest_hex = erased.get(position)
        if position >= v2_from:
            digest = bytes.fromhex(digest_hex) if digest_hex else data_digest(data_b)
            computed: str | None = hash_v2(
                prev_hash, position, str(stream), int(version), str(type_), digest, meta_b, int(at)
            )
        elif digest_hex is not None:
            computed = None  # erased before digest chaining: the stored hash is taken as given
            res.unverifiable.append(position)
        else:
            computed = chain_hash(
                prev_hash, position, str(stream), int(version), str(type_), data_b, meta_b, int(at)
            )
        if computed is not None and computed != stored and len(res.breaks) < limit_breaks:
            res.breaks.append(
                Break(
                    chain="plain",
                    position=position,
                    detail=f"hash mismatch at position {position} (stream {stream!r} v{version}, "
                    f"{type_}): the row was changed, or the row before it was removed",
                )
            )
        if position >= v2_from and link is not None and secret is not None:
            if position == v2_from:
                prev_mac = anchor(secret, prev_hash)
            if mac is not None:
                want = link(prev_mac, stored)
                if not hmac.compare_digest(want, str(mac)) and len(res.breaks) < limit_breaks:
                    res.breaks.append(
                        Break(
                            chain="keyed",
                            position=position,
                            detail=f"keyed MAC mismatch at position {position} (stream "
                            f"{stream!r} v{version}, {type_}): this row or one before it was "
                            "rewritten without the key",
                        )
                    )
                prev_mac = str(mac)
            last_unmacd = position if mac is None else 0
        prev_hash, expected = str(stored), position + 1
        res.last_position, res.last_hash, res.last_mac = position, prev_hash, prev_mac
    if last_unmacd and len(res.breaks) < limit_breaks:
        # Every transaction ends with a MAC'd row: a head without one was not written by us.
        res.breaks.append(
            Break(
                chain="keyed",
                position=last_unmacd,
                detail=f"the newest row (position {last_unmacd}) carries no MAC: rows were "
                "appended or rewritten without the key",
            )
        )
    return res


class ChainState(msgspec.Struct, kw_only=True):
    """The chain as found when the store opened: whether appends are allowed, and why not."""

    ok: bool = True
    position: int | None = None
    detail: str = ""
    checked: int = 0
    seconds: float = 0.0
    keyed_from: int = 1
    key_id: str = ""


def accepted_ranges(conn: sqlite3.Connection) -> list[tuple[int, int]]:
    """Ranges of positions an operator accepted as broken (``ChainBreakAccepted`` events)."""
    out = []
    for (data,) in conn.execute("SELECT data FROM events WHERE type = 'ChainBreakAccepted'"):
        ev = msgspec.json.decode(_b(data))
        out.append((int(ev["first"]), int(ev["last"])))
    return out


def _accepted(position: int, ranges: list[tuple[int, int]]) -> bool:
    return any(first <= position <= last for first, last in ranges)


def read_checkpoint(conn: sqlite3.Connection, key: ChainKey) -> tuple[int, str, str] | None:
    """The last verified ``(position, hash, mac)``, or None when absent or not MACed by ``key``.

    Raises ``ValueError`` when the row it names was removed or changed since.
    """
    value, mac = info(conn, "checkpoint"), info(conn, "checkpoint_mac")
    if not value or not mac or not hmac.compare_digest(mac, checkpoint_mac(key.secret, value)):
        return None
    pos_s, hash_, last_mac = value.split(":")
    pos = int(pos_s)
    row = conn.execute("SELECT hash FROM events WHERE position = ?", (pos,)).fetchone()
    if row is None or row[0] != hash_:
        raise ValueError(
            f"position {pos}, verified at an earlier start, was removed or changed since"
        )
    return pos, hash_, last_mac


def write_checkpoint(
    conn: sqlite3.Connection, key: ChainKey, pos: int, hash_: str, mac: str
) -> None:
    value = f"{pos}:{hash_}:{mac}"
    set_info(conn, "checkpoint", value)
    set_info(conn, "checkpoint_mac", checkpoint_mac(key.secret, value))


def verify_since_checkpoint(
    conn: sqlite3.Connection, key: ChainKey
) -> tuple[ChainState, ChainResult]:
    """Check both chains from the last verified checkpoint (or from the start) to the head."""
    started = time.perf_counter()
    state = ChainState(keyed_from=int(info(conn, "v2_from") or 1), key_id=key.key_id)
    recorded = info(conn, "chain_key_id")
    if recorded is not None and recorded != key.key_id:
        state.ok = False
        state.position = state.keyed_from
        state.detail = (
            f"the chain key (id {key.key_id}) is not the key this log was written with "
            f"(id {recorded}); restore the right {KEY_FILE}"
        )
        return state, ChainResult()
    try:
        cp = read_checkpoint(conn, key)
    except ValueError as exc:
        state.ok = False
        state.position = int(str(exc).split()[1].rstrip(","))
        state.detail = (
            f"the log was cut or rewritten: {exc}. Appending is refused; run `runner audit`, "
            "then restore a backup or accept with `runner chain-accept`"
        )
        return state, ChainResult()
    if cp is None:
        res = walk(conn, key)
    else:
        res = walk(conn, key, after=cp[0], prev_hash=cp[1], prev_mac=cp[2])
    ranges = accepted_ranges(conn) if res.breaks else []
    breaks = [b for b in res.breaks if not _accepted(b.position, ranges)]
    state.checked = res.checked
    state.seconds = time.perf_counter() - started
    if breaks:
        first = breaks[0]
        state.ok = False
        state.position = first.position
        state.detail = (
            f"the log's {first.chain} chain is broken at position {first.position} "
            f"({len(breaks)} problem(s)): {first.detail}. Appending is refused; run "
            "`runner audit`, then restore a backup or accept with `runner chain-accept`"
        )
    return state, res
