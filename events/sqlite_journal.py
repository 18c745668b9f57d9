"""The journal: the single writer of a process, committing waiting appends as one transaction.

Runs on a worker thread (one at a time). Per batch: take the write lock, fold in events other
processes committed since our last look, check every request's expected version, insert rows
with their chained hashes, let the projector update the views, commit. A request that fails its
version check gets its own ``ConcurrencyError``; the rest of the batch still commits.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence

import msgspec

from events.catalogue import SCHEMA_VERSIONS
from events.chain import ChainKey, anchor, data_digest, hash_v2, info, mac_linker
from events.codec import GENESIS_HASH, decode_row, encode_event, encode_meta
from events.envelope import AppendRequest, AppendResult, Meta, Recorded
from events.errors import ChainBrokenError, ConcurrencyError, StoreError
from events.sqlite_schema import EVENT_COLUMNS
from events.sqlite_views import SQLiteViewWriter
from events.storage_faults import classify
from events.views import NullProjector, Projector, ViewWriter

__all__ = ["BatchResult", "Journal", "NullProjector", "Outcome", "Projector", "Row"]


#: Streams whose version the journal remembers; beyond this the cache starts over.
MAX_CACHED_STREAMS = 100_000

Outcome = list[AppendResult] | BaseException
#: A stored row: position, stream, version, type, data, meta, recorded_at, hash, mac.
Row = tuple[int, str, int, str, bytes, bytes, int, str, str | None]
BatchResult = tuple[list[Outcome], list[Recorded]]


def _is_busy(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and (
        "locked" in str(exc) or "busy" in str(exc)
    )


class Journal:
    """Synchronous core of the writer. Not thread-safe: one batch at a time.

    The SQL differs per backend only in the statements below and the write-lock hooks, so a
    backend's journal subclasses this one (``events.postgres_journal``).
    """

    SQL_MAX_VERSION = "SELECT max(version) FROM events WHERE stream = ?"
    SQL_SINCE = f"SELECT {EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position"
    SQL_INSERT = f"INSERT INTO events ({EVENT_COLUMNS}, mac) VALUES (?,?,?,?,?,?,?,?,?)"
    SQL_MAC_AT = "SELECT mac FROM events WHERE position = ?"

    def __init__(
        self, conn: sqlite3.Connection, projector: Projector, key: ChainKey | None = None
    ) -> None:
        self.conn = conn
        self.projector = projector
        self.key = key
        self._link = mac_linker(key.secret) if key is not None else None
        #: Why appends are refused (a broken chain found at open), or None.
        self.refusal: str | None = None
        self._versions: dict[str, int] = {}
        self.v2_from = int(self._info("v2_from") or 1)
        self.views = self._view_writer()
        projector.setup(self.views)
        # One snapshot for the head and the loaded views, so they agree even while another
        # process is appending.
        conn.execute("BEGIN")
        try:
            last = conn.execute(
                "SELECT position, hash, mac FROM events ORDER BY position DESC LIMIT 1"
            ).fetchone()
            self.head: int = last[0] if last else 0
            self.head_hash: str = last[1] if last else GENESIS_HASH
            self.head_mac: str = (last[2] or "") if last else ""
            projector.load(self.views)
        finally:
            conn.execute("COMMIT")

    def _view_writer(self) -> ViewWriter:
        """The backend's writer of view tables over this journal's connection."""
        return SQLiteViewWriter(self.conn)

    def _info(self, key: str) -> str | None:
        """A ``store_info`` value (the backend's SQL)."""
        return info(self.conn, key)

    def _version_of(self, stream: str, staged: dict[str, int]) -> int:
        if stream in staged:
            return staged[stream]
        v = self._versions.get(stream)
        if v is None:
            row = self.conn.execute(self.SQL_MAX_VERSION, (stream,)).fetchone()
            v = -1 if row[0] is None else int(row[0])
            self._versions[stream] = v
        return v

    def _absorb_foreign(self) -> list[Recorded]:
        """Fold events that other processes committed since our last batch."""
        rows = self.conn.execute(self.SQL_SINCE, (self.head,)).fetchall()
        if not rows:
            return []
        records = [decode_row(r) for r in rows]
        self.projector.apply(self.views, records, write=False)
        for rec in records:
            self._versions[rec.stream] = rec.version
        self.head = records[-1].position
        self.head_hash = records[-1].hash
        (mac,) = self.conn.execute(self.SQL_MAC_AT, (self.head,)).fetchone()
        self.head_mac = mac or ""
        return records

    def commit_batch(self, batch: Sequence[Sequence[AppendRequest]]) -> BatchResult:
        """Commit each unit of ``batch`` (a unit is all-or-nothing). Returns outcomes + records."""
        if self.refusal is not None:
            raise ChainBrokenError(self.refusal)
        try:
            return self._commit(batch)
        except Exception as exc:
            fault = classify(exc)
            if fault is not None and fault is not exc:
                # Full disk, held lock, read-only or I/O error: no unit can commit now.
                raise fault from exc
            # Waiting longer for the lock would not help any one unit: fail the batch.
            if len(batch) == 1 or self._is_busy(exc) or fault is not None:
                raise
        # Something failed below the version checks (e.g. a projection bug raising any
        # exception, or a constraint in a view table): isolate the culprit, commit the rest.
        outcomes: list[Outcome] = []
        records: list[Recorded] = []
        for unit in batch:
            try:
                o, r = self._commit([unit])
                outcomes.extend(o)
                records.extend(r)
            except Exception as exc:
                outcomes.append(exc)
        return outcomes, records

    def _is_busy(self, exc: BaseException) -> bool:
        """The write lock could not be had in time (not a fault of any one unit)."""
        return _is_busy(exc)

    def _begin_write(self) -> None:
        """Start the batch's transaction holding the log's write lock."""
        if self.conn.in_transaction:
            # A ROLLBACK failed last time (e.g. the disk was full): finish it before going on.
            self.conn.execute("ROLLBACK")
        self.conn.execute("BEGIN IMMEDIATE")

    def _insert(self, rows: list[Row]) -> None:
        self.conn.executemany(self.SQL_INSERT, rows)

    def _before_commit(self, head: int) -> None:
        """Last statement of a batch that wrote rows (a backend may announce ``head`` here)."""

    def _commit(
        self,
        batch: Sequence[Sequence[AppendRequest]],
        before: Callable[[sqlite3.Connection], None] | None = None,
    ) -> BatchResult:
        """One transaction; ``before`` runs first under the write lock (erasure, acceptance)."""
        conn = self.conn
        self._begin_write()
        head, head_hash, head_mac = self.head, self.head_hash, self.head_mac
        secret = self.key.secret if self.key is not None else None
        link = self._link
        v2_from = self.v2_from
        try:
            foreign = self._absorb_foreign()
            if before is not None:
                before(conn)
            outcomes: list[Outcome] = []
            rows: list[Row] = []
            records: list[Recorded] = []
            staged: dict[str, int] = {}
            position, prev_hash, prev_mac = self.head, self.head_hash, self.head_mac
            now_us = int(time.time() * 1_000_000)
            for unit in batch:
                unit_staged: dict[str, int] = {}
                error: BaseException | None = None
                for req in unit:
                    stream = req.stream
                    current = (
                        unit_staged[stream]
                        if stream in unit_staged
                        else self._version_of(stream, staged)
                    )
                    exp = req.expected
                    ok = (
                        exp == "any"
                        or (exp == "no_stream" and current == -1)
                        or (exp == "exists" and current >= 0)
                        or (isinstance(exp, int) and exp == current)
                    )
                    if not ok:
                        error = ConcurrencyError(req.stream, exp, current)
                        break
                    if not req.events:
                        error = StoreError("an append needs at least one event")
                        break
                    unit_staged[req.stream] = current + len(req.events)
                if error is not None:
                    outcomes.append(error)
                    continue
                results: list[AppendResult] = []
                for req in unit:
                    stream = req.stream
                    version = self._version_of(stream, staged)
                    first_pos, first_ver = position + 1, version + 1
                    # One request's events share its meta; only the schema differs per type.
                    metas: dict[int, tuple[Meta, bytes]] = {}
                    for event in req.events:
                        position += 1
                        version += 1
                        tname = type(event).__name__
                        sv = SCHEMA_VERSIONS.get(tname, 1)
                        known = metas.get(sv)
                        if known is None:
                            meta = req.meta
                            if meta.schema != sv:
                                meta = msgspec.structs.replace(meta, schema=sv)
                            known = metas[sv] = (meta, encode_meta(meta))
                        meta, meta_raw = known
                        data = encode_event(event)
                        if secret is not None and position == v2_from:
                            prev_mac = anchor(secret, prev_hash)
                        prev_hash = hash_v2(
                            prev_hash,
                            position,
                            stream,
                            version,
                            tname,
                            data_digest(data),
                            meta_raw,
                            now_us,
                        )
                        rows.append(
                            (
                                position,
                                stream,
                                version,
                                tname,
                                data,
                                meta_raw,
                                now_us,
                                prev_hash,
                                None,
                            )
                        )
                        records.append(
                            Recorded(
                                position=position,
                                stream=stream,
                                version=version,
                                type=tname,
                                event=event,
                                meta=meta,
                                recorded_at_us=now_us,
                                hash=prev_hash,
                            )
                        )
                    staged[req.stream] = version
                    results.append(
                        AppendResult(
                            stream=req.stream,
                            first_version=first_ver,
                            last_version=version,
                            first_position=first_pos,
                            last_position=position,
                        )
                    )
                outcomes.append(results)
            if rows:
                if link is not None:
                    # One MAC per transaction, on its last row: the plain chain links the rows
                    # before it, so the MAC covers them all (and the head always carries one).
                    prev_mac = link(prev_mac, prev_hash)
                    rows[-1] = (*rows[-1][:8], prev_mac)
                self._insert(rows)
                self.projector.apply(self.views, records, write=True)
                self._before_commit(position)
            conn.execute("COMMIT")
        except BaseException:
            try:
                conn.execute("ROLLBACK")
            except Exception:
                # SQLite may already have rolled back (a full disk does); a failing ROLLBACK
                # must never replace the error that caused it.
                pass
            finally:
                self.projector.rollback()
                self.head, self.head_hash, self.head_mac = head, head_hash, head_mac
                self._versions.clear()
            raise
        self.projector.commit()
        if len(self._versions) > MAX_CACHED_STREAMS:
            self._versions.clear()  # a cache only: the table is the truth, read under the lock
        self._versions.update(staged)
        if rows:
            self.head, self.head_hash, self.head_mac = position, prev_hash, prev_mac
        return outcomes, foreign + records
