"""Through MCP: create a server from code, set its credential, run a job (real CLI, scripted
model) that calls its tool — the tool sees the credential, the output and every event do not.
Also a server with a syntax error, one that crashes on start, and per-server credential scoping."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.servers_journey import Journey, as_text, digest, make_secrets, run_journey

pytestmark = [pytest.mark.anyio, pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_server_from_code_credential_and_job(tmp_path: Path) -> None:
    values = make_secrets()
    j: Journey = await run_journey(tmp_path, values)
    token = values["FB_PAGE_TOKEN"]
    r = j.mcp_results

    # created from code: tools discovered by starting it, the credential detected as sensitive
    assert [t["id"] for t in r["create_poster"]["tools"]] == ["mcp__poster__post"]
    assert r["creds_before"]["missing_credentials"] == ["FB_PAGE_TOKEN"]
    (var,) = r["creds_before"]["credentials"]
    assert var["sensitive"] is True and var["required"] is True
    # bad input: clear errors, nothing written
    assert "line 2" in j.mcp_errors["create_broken"] or "line 3" in j.mcp_errors["create_broken"]
    assert "already exists" in j.mcp_errors["dup_poster"]
    assert "invalid server name" in j.mcp_errors["bad_name"]
    assert "NOPE" in j.mcp_errors["set_unknown_var"]
    assert not (j.data / "servers" / "broken").exists()
    # a server that crashes at start says why
    crasher = r["get_crasher"]
    assert crasher["start_error"] and "cannot reach the database" in crasher["start_error"]
    # masked: at most the last 4 characters
    (var,) = r["creds_after"]["credentials"]
    assert var["configured"] and var["masked"] == "****" + token[-4:]
    assert r["creds_after"]["credentials_ok"] is True

    # invoke_internal_mcp_tool: a real subprocess with the server's credential, recorded
    inv = r["invoke"]
    assert inv["ok"] and f"sha={digest(token)}" in inv["text"] and token not in inv["text"]
    assert j.rows("SELECT count(*) FROM events WHERE type = 'ToolInvoked'")[0][0] >= 1

    # the job ran through the real CLI and called the tool, which saw its credential only
    assert r["wait"]["run"]["state"] == "succeeded", r["wait"]
    outs = [
        str(d)
        for (d,) in j.rows(
            "SELECT data FROM events WHERE stream = ? AND type = 'RunOutput'", (f"run-{j.run_id}",)
        )
    ]
    result = [o for o in outs if "tool_result" in o]
    assert result and f"sha={digest(token)}" in result[0], outs
    assert "others=[]" in result[0]  # no other server's credential, no RUNNER_* variable
    assert "parent=[]" in result[0]  # not on the CLI's command line (ps), not in its env
    assert "[redacted]" in result[0]  # the careless echo of the raw token was redacted
    proof = (j.data / "servers" / "poster" / "data" / "last_post.txt").read_text()
    assert proof == f"{digest(token)} hello world"
    # exactly the job's server and tool went to the model
    assert int(j.logs["fake_api_requests"]) >= 2

    # no event row holds any credential in clear text
    for data, meta in j.rows("SELECT data, meta FROM events"):
        for name, value in values.items():
            assert value not in str(data) and value not in str(meta), name
    # built-ins are registered once; enable/disable is recorded
    created = j.rows("SELECT count(*) FROM events WHERE type = 'ServerCreated' AND stream = ?",
                     ("server-email",))  # fmt: skip
    assert created[0][0] == 1
    assert j.serve_exit == 0, j.logs["serve"][-3000:]
    assert "ready" in as_text(r["list_dynamic"])
