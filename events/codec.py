"""Encoding, decoding and upcasting of stored events, and the hash chain."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import msgspec

from events.catalogue import EVENT_TYPES, Event, schema_version
from events.envelope import Meta, Recorded
from events.errors import (
    CorruptEventError,
    SchemaVersionError,
    StoreError,
    UnknownEventTypeError,
)

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

_encoder = msgspec.json.Encoder()
_event_decoder = msgspec.json.Decoder(Event)
_meta_decoder = msgspec.json.Decoder(Meta)
_DEFAULT_META = b"{}"
GENESIS_HASH = "0" * 64


def _job_created_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 (the seed system's flat shape) -> v2 (a nested ``JobSpec``)."""
    tools = data.get("tools", [])
    if isinstance(tools, str):
        tools = msgspec.json.decode(tools) if tools.strip() else []
    minutes = data.get("timeout_minutes")
    cron = data.get("cron")
    spec = {
        "name": data["name"],
        "prompt": data["prompt"],
        "cron": None if cron in (None, "", "manual") else cron,
        "timezone": data.get("timezone", "UTC"),
        "enabled": data.get("enabled", True),
        "tools": tools,
        "timeout_seconds": None if minutes is None else float(minutes) * 60.0,
    }
    return {"type": "JobCreated", "job_id": data["job_id"], "spec": spec}


#: (event type, stored schema version) -> function returning the next version's shape.
UPCASTERS: dict[tuple[str, int], Upcaster] = {("JobCreated", 1): _job_created_v1_to_v2}


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def encode_meta(meta: Meta) -> bytes:
    return _encoder.encode(meta)


def decode_meta(raw: bytes | str) -> Meta:
    return _meta_decoder.decode(raw) if raw and raw != _DEFAULT_META else Meta()


def decode_event(type_: str, raw: bytes | str, stored_schema: int) -> Event:
    """Decode one stored event, upcasting it when it was written by an older schema.

    Raises ``UnknownEventTypeError`` for a type this code does not know, ``SchemaVersionError``
    for a shape newer than this code, ``CorruptEventError`` when the row does not decode.
    """
    if type_ not in EVENT_TYPES:
        raise UnknownEventTypeError(f"unknown event type {type_!r}")
    current = schema_version(type_)
    if stored_schema > current:
        raise SchemaVersionError(
            f"{type_} was written with schema {stored_schema}, this version understands up to "
            f"{current}; upgrade Claude Runner"
        )
    try:
        if stored_schema == current:
            decoded: Event = _event_decoder.decode(raw)
        else:
            data: dict[str, Any] = msgspec.json.decode(raw)
            version = stored_schema
            while version < current:
                step = UPCASTERS.get((type_, version))
                if step is None:
                    raise UnknownEventTypeError(f"no upcaster for {type_} v{version}")
                data = step(data)
                version += 1
            data["type"] = type_
            decoded = msgspec.convert(data, Event)
    except (msgspec.DecodeError, msgspec.ValidationError, KeyError, TypeError, ValueError) as exc:
        raise CorruptEventError(f"a stored {type_} does not decode: {exc}") from exc
    if type(decoded).__name__ != type_:
        raise CorruptEventError(f"a row of type {type_} holds a {type(decoded).__name__}")
    return decoded


def chain_hash(
    prev_hash: str,
    position: int,
    stream: str,
    version: int,
    type_: str,
    data: bytes,
    meta: bytes,
    recorded_at_us: int,
) -> str:
    """SHA-256 over the previous hash and this row's canonical bytes."""
    head = f"{prev_hash}\x1f{position}\x1f{stream}\x1f{version}\x1f{type_}\x1f{recorded_at_us}\x1f"
    return hashlib.sha256(b"".join((head.encode(), data, b"\x1f", meta))).hexdigest()


RowTuple = tuple[int, str, int, str, bytes, bytes, int, str]


#: The log table's columns in the order ``decode_row`` takes them (every backend).
EVENT_COLUMNS = "position, stream, version, type, data, meta, recorded_at, hash"


def decode_row(row: RowTuple) -> Recorded:
    """Turn a stored row ``(position, stream, version, type, data, meta, recorded_at, hash)``."""
    position, stream, version, type_, data, meta_raw, recorded_at_us, hash_ = row
    try:
        meta = decode_meta(meta_raw)
        event = decode_event(type_, data, meta.schema)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise CorruptEventError(f"event at position {position} ({stream!r} v{version}): {exc}")
    except StoreError as exc:
        raise type(exc)(f"event at position {position} ({stream!r} v{version}): {exc}") from exc
    return Recorded(
        position=position,
        stream=stream,
        version=version,
        type=type_,
        event=event,
        meta=meta,
        recorded_at_us=recorded_at_us,
        hash=hash_,
    )
