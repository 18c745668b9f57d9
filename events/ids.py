"""Identifiers: random ones for new things, derived ones where a duplicate must be impossible."""

from __future__ import annotations

import hashlib
import secrets


def new_id(prefix: str) -> str:
    """A fresh random id such as ``job_3f9a1c2b7d4e``."""
    return f"{prefix}_{secrets.token_hex(6)}"


def derived_id(prefix: str, *parts: str) -> str:
    """The same parts always give the same id (a scheduled slot, a webhook delivery)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]
    return f"{prefix}_{digest}"


def scheduled_run_id(job_id: str, fire_time: float) -> str:
    """The run id of a job's scheduled fire at ``fire_time`` (epoch seconds, nominal)."""
    return derived_id("run", "schedule", job_id, f"{fire_time:.0f}")


#: Every claim's ``ConcurrencySlotTaken``: the one stream whose version orders all claims.
CLAIMS_STREAM = "claims"


def run_stream(run_id: str) -> str:
    return f"run-{run_id}"


def job_stream(job_id: str) -> str:
    return f"job-{job_id}"
