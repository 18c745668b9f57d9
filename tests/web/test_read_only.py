"""A read-only service (broken hash chain): reads answer, writes are a 503 naming the position."""

from __future__ import annotations

import pytest

from runner.app import Runner
from tests.helpers import sqlite_of
from tests.web.support import Client

pytestmark = pytest.mark.anyio


async def test_writes_on_a_broken_chain_are_503_with_the_position(
    client: Client, runner: Runner
) -> None:
    sqlite_of(runner.store)._journal.refusal = "the log's keyed chain is broken at position 7"
    resp = await client.api("POST", "/api/v1/jobs", {"name": "n", "prompt": "p"})
    assert resp.status_code == 503
    err = (await resp.get_json())["error"]
    assert err["code"] == "read_only" and "position 7" in err["message"]
    assert (await client.api("GET", "/api/v1/jobs")).status_code == 200
