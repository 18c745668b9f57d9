"""Masking of secret material in event data before it is shown anywhere."""

from __future__ import annotations

from typing import Any

SECRET_KEYS = frozenset(
    {
        "ciphertext",
        "password_hash",
        "token_hash",
        "secret_hash",
        "access_hash",
        "refresh_hash",
        "code_hash",
        "replaces_refresh_hash",
    }
)


def redact_event_data(data: Any) -> Any:
    """A copy of ``data`` with ciphertexts and hashes of secrets replaced by a marker."""
    if isinstance(data, dict):
        return {
            k: ("[redacted]" if k in SECRET_KEYS and v else redact_event_data(v))
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [redact_event_data(v) for v in data]
    return data
