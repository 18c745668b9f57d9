"""Whether a credential is shown again is the server's declaration, never the caller's wish: a
declared-sensitive variable cannot be downgraded and read back, by any path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runner.app import Runner
from runner.errors import InvalidInput
from tests.helpers import open_runner
from tests.runner.servers.test_commands import POSTER, SECRET, rows

pytestmark = pytest.mark.anyio

TWO_VARS = POSTER.replace('mcp.run("stdio")', 'X = os.environ.get("PAGE_ID")\nmcp.run("stdio")')


@pytest.fixture
async def runner(tmp_path: Path) -> AsyncIterator[Runner]:
    async with open_runner(tmp_path / "data") as r:
        await r.servers.create({"name": "poster", "code": TWO_VARS}, discover=False)
        yield r


async def shown(runner: Runner, variable: str) -> tuple[bool, str | None]:
    info = {c.name: c for c in await runner.credentials.show("poster")}[variable]
    return info.sensitive, info.masked


async def test_downgrade_of_a_declared_secret_is_refused(runner: Runner) -> None:
    with pytest.raises(InvalidInput) as err:
        await runner.servers.set_credential("poster", "FB_PAGE_TOKEN", SECRET, sensitive=False)
    assert err.value.field == "sensitive" and "declared sensitive" in err.value.message
    assert await runner.queries.credentials("poster") == []  # nothing half-written
    await runner.servers.set_credential("poster", "FB_PAGE_TOKEN", SECRET)
    assert await shown(runner, "FB_PAGE_TOKEN") == (True, "****" + SECRET[-4:])
    assert SECRET not in await rows(runner)


async def test_redeclaring_non_sensitive_never_reveals_a_value_stored_as_secret(
    runner: Runner,
) -> None:
    await runner.servers.set_credential("poster", "FB_PAGE_TOKEN", SECRET)
    await runner.servers.update("poster", {"sensitivity": {"FB_PAGE_TOKEN": False}}, discover=False)
    srv = await runner.queries.server("poster")
    assert not {s.name: s for s in srv.env}["FB_PAGE_TOKEN"].sensitive
    sensitive, masked = await shown(runner, "FB_PAGE_TOKEN")
    assert (
        sensitive
        and masked == "****" + SECRET[-4:]
        and SECRET not in str(await runner.servers.describe("poster"))
    )
    # the run-output redactor keeps redacting it too
    from runner.servers.resolver import RunnerResolver

    assert SECRET in await RunnerResolver(runner.servers).all_secrets()
    # set again while declared non-sensitive: now (and only now) it may be shown
    await runner.servers.set_credential("poster", "FB_PAGE_TOKEN", "page-token-public")
    assert await shown(runner, "FB_PAGE_TOKEN") == (False, "page-token-public")


async def test_declared_non_sensitive_is_shown_and_may_be_marked_secret(runner: Runner) -> None:
    await runner.servers.set_credential("poster", "PAGE_ID", "1234567890123")
    assert await shown(runner, "PAGE_ID") == (False, "1234567890123")
    await runner.servers.set_credential("poster", "PAGE_ID", "1234567890123", sensitive=True)
    assert await shown(runner, "PAGE_ID") == (True, "****0123")


async def test_sensitive_must_be_a_boolean(runner: Runner) -> None:
    with pytest.raises(InvalidInput) as err:
        await runner.credentials.set("poster", "PAGE_ID", "1", sensitive="no")  # type: ignore[arg-type]
    assert err.value.field == "sensitive"
