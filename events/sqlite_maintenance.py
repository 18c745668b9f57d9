"""Operations on the log beside appends: accepting a broken chain, erasing content.

Both run on the journal's thread inside one write transaction with the event that records them,
so an erasure or an acceptance is never half done.
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

import msgspec

from events.chain import ChainKey, verify_since_checkpoint, write_checkpoint
from events.codec import decode_event, decode_meta, encode_event
from events.envelope import AppendRequest, Meta, Recorded
from events.errors import ChainBrokenError, StoreError
from events.integrity import LOG_STREAM, ChainBreakAccepted, ContentErased, ErasedDelivery
from events.runs import RunRequested
from events.sqlite_journal import Journal
from events.sqlite_schema import rollback_quietly
from events.webhooks import WebhookReceived

ERASED = "[erased]"

#: Event types whose data may be erased, and the value each erasable field gets.
ERASABLE: dict[str, dict[str, Any]] = {
    "RunOutput": {"text": ERASED, "data": None},
    "RunSucceeded": {"result_text": ERASED},
    "WebhookReceived": {"body": ERASED},
    "RunRequested": {},  # only a webhook-started run's prompt, which may quote the body
}


def erased_data(type_: str, data: bytes, meta: bytes) -> bytes:
    """The stored bytes of an event with its erasable fields replaced."""
    event = decode_event(type_, data, decode_meta(meta).schema)
    if isinstance(event, RunRequested):
        spec = msgspec.structs.replace(event.spec, prompt=ERASED)
        return encode_event(msgspec.structs.replace(event, spec=spec))
    return encode_event(msgspec.structs.replace(event, **ERASABLE[type_]))


def _one(batch: tuple[list[Any], list[Recorded]]) -> list[Recorded]:
    outcomes, records = batch
    (outcome,) = outcomes
    if isinstance(outcome, BaseException):
        raise outcome
    return records


def _checkpoint(journal: Journal) -> None:
    if journal.key is None:
        return
    conn = journal.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        write_checkpoint(conn, journal.key, journal.head, journal.head_hash, journal.head_mac)
        conn.execute("COMMIT")
    except BaseException:
        rollback_quietly(conn)
        raise


def accept_break(journal: Journal, by: str, reason: str) -> list[Recorded]:
    """Record that ``by`` accepts the broken chain up to the head; appends resume after it."""
    key: ChainKey | None = journal.key
    if key is None:
        raise StoreError(
            "the chain key is missing: restore chain.key from your backup before accepting"
        )
    state, _ = verify_since_checkpoint(journal.conn, key)
    if state.ok or state.position is None:
        raise StoreError("the hash chain is intact: there is nothing to accept")
    event = ChainBreakAccepted(
        first=state.position, last=journal.head, detail=state.detail, by=by, reason=reason
    )
    request = AppendRequest(stream=LOG_STREAM, events=(event,), meta=Meta(actor=by))
    refusal, journal.refusal = journal.refusal, None
    try:
        records = _one(journal._commit([[request]]))
    except BaseException:
        journal.refusal = refusal
        raise
    _checkpoint(journal)
    return records


def erasable_positions(conn: sqlite3.Connection, run_id: str) -> list[int]:
    """Positions of a run's output and of the webhook delivery that started it, not yet erased.

    Only indexed lookups by stream: the run's own stream, and the stream of the webhook named by
    its ``RunRequested``.
    """
    types = ", ".join(f"'{t}'" for t in ERASABLE)
    stream = "run-" + run_id
    streams = [stream]
    row = conn.execute(
        "SELECT data FROM events WHERE stream = ? AND type = 'RunRequested' LIMIT 1", (stream,)
    ).fetchone()
    webhook_id = msgspec.json.decode(row[0]).get("webhook_id") if row is not None else None
    if webhook_id:
        streams.append("webhook-" + str(webhook_id))
    out = []
    needle = f'"run_id":"{run_id}"'.encode()
    for s in streams:
        rows = conn.execute(
            f"SELECT position, type, data FROM events WHERE stream = ? AND type IN ({types}) "
            "AND position NOT IN (SELECT position FROM erased) ORDER BY position",
            (s,),
        ).fetchall()
        for position, type_, data in rows:
            raw = data if isinstance(data, bytes) else str(data).encode()
            if type_ == "RunRequested" and not webhook_id:
                continue  # a prompt someone wrote is not output
            if s == stream or (type_ == "WebhookReceived" and needle in raw):
                out.append(int(position))
    return sorted(out)


def _deliveries(conn: sqlite3.Connection, positions: tuple[int, ...]) -> tuple[ErasedDelivery, ...]:
    out = []
    for pos in positions:
        row = conn.execute(
            "SELECT data, meta, recorded_at FROM events WHERE position = ? "
            "AND type = 'WebhookReceived'",
            (pos,),
        ).fetchone()
        if row is None:
            continue
        data, meta, at = row
        ev = decode_event("WebhookReceived", data, decode_meta(meta).schema)
        assert isinstance(ev, WebhookReceived)
        out.append(
            ErasedDelivery(
                delivery_id=ev.delivery_id,
                webhook_id=ev.webhook_id,
                dedupe_key=ev.dedupe_key,
                run_id=ev.run_id,
                headers=ev.headers,
                body_is_json=ev.body_is_json,
                verification=ev.verification,
                source=ev.source,
                replay_of=ev.replay_of,
                received_at_us=int(at),
            )
        )
    return tuple(out)


def erase_run(
    journal: Journal, run_id: str, by: str, reason: str, policy: str | None = None
) -> list[Recorded]:
    """Erase a run's output (and its webhook body) in place, recorded by ``ContentErased``."""
    if journal.refusal is not None:
        raise ChainBrokenError(journal.refusal)
    conn = journal.conn
    positions = tuple(erasable_positions(conn, run_id))
    if not positions:
        raise StoreError(f"run {run_id} has no output or webhook body left to erase")

    def rewrite(c: sqlite3.Connection) -> None:
        for pos in positions:
            row = c.execute(
                "SELECT type, data, meta FROM events WHERE position = ? "
                "AND position NOT IN (SELECT position FROM erased)",
                (pos,),
            ).fetchone()
            if row is None:
                raise StoreError(f"position {pos} was erased meanwhile; erase run {run_id} again")
            type_, data, meta = row
            raw = data if isinstance(data, bytes) else str(data).encode()
            meta_b = meta if isinstance(meta, bytes) else str(meta).encode()
            c.execute(
                "INSERT INTO erased(position, digest) VALUES (?, ?)",
                (pos, hashlib.sha256(raw).hexdigest()),
            )
            c.execute(
                "UPDATE events SET data = ? WHERE position = ?",
                (erased_data(type_, raw, meta_b), pos),
            )

    event = ContentErased(
        run_id=run_id,
        positions=positions,
        by=by,
        reason=reason,
        policy=policy,
        deliveries=_deliveries(conn, positions),
    )
    request = AppendRequest(stream="run-" + run_id, events=(event,), meta=Meta(actor=by))
    conn.execute("PRAGMA secure_delete = ON")  # freed bytes are zeroed, not left in the file
    try:
        records = _one(journal._commit([[request]], before=rewrite))
    finally:
        conn.execute("PRAGMA secure_delete = OFF")
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # old page images leave the WAL
    except sqlite3.OperationalError:
        pass  # busy: the next checkpoint copies the erased pages over
    return records
