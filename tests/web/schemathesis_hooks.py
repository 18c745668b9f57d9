"""Schemathesis hooks for ``test_schemathesis``: never revoke the token the fuzzer signs in with.

Schemathesis learns ids from responses (the event log lists token ids) and would otherwise revoke
its own credential half-way, turning every later answer into a 401.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis


@schemathesis.hook
def filter_path_parameters(context: Any, path_parameters: Any) -> bool:
    own = os.environ.get("RUNNER_FUZZ_TOKEN_ID", "")
    return not (isinstance(path_parameters, dict) and path_parameters.get("token_id") == own)
