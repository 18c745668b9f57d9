"""A run waiting for approval when ``runner serve`` is killed -9: after the restart the run is
requested again, asks again, and the approved call runs exactly once (nothing ran unapproved)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_service_processes import (
    cli,
    cli_processes_under,
    env_for,
    events,
    serve,
    wait,
)
from tests.fakes.anthropic_api import FakeAnthropicAPI, Text, ToolUse, Turn

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def api() -> Iterator[FakeAnthropicAPI]:
    with FakeAnthropicAPI(default=(Text("done"),)) as fake:
        yield fake


def pending(data: Path) -> list[tuple[str, str]]:
    rows = events(data, "SELECT k, run_id FROM v_approvals WHERE state = 'pending'")
    return [(str(k), str(r)) for k, r in rows]


def test_kill_minus_nine_while_waiting_asks_again(tmp_path: Path, api: FakeAnthropicAPI) -> None:
    env = env_for(tmp_path, api)
    write = Turn([ToolUse("Write", {"file_path": "report.txt", "content": "approved text"})])
    # Each attempt is a new CLI session, so each gets the script from the start.
    api.script("note", [write, Text("written")])
    job = cli(
        env, "jobs", "create", "--name", "note", "--prompt", "[[script:note]] write it",
        "--tools", "Write", "--ask-first", "Write", "--approval-timeout-seconds", "600",
    )  # fmt: skip
    job_id = job["job"]["job_id"]  # type: ignore[index]
    first = serve(env, tmp_path / "first.log")
    try:
        run_id = cli(env, "jobs", "run", job_id)["run_id"]
        wait(lambda: bool(pending(tmp_path)), 60, "the run to ask for approval")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    wait(lambda: not cli_processes_under(tmp_path), 15, "the orphaned CLI to exit")
    (old_approval, old_run) = pending(tmp_path)[0]
    assert old_run == run_id
    second = serve(env, tmp_path / "second.log")
    try:

        def asks_again() -> bool:
            return any(r != run_id for _, r in pending(tmp_path))

        wait(asks_again, 60, "the re-requested run to ask again")
        (approval, new_run) = next(p for p in pending(tmp_path) if p[1] != run_id)
        out = cli(env, "approvals", "answer", approval, "--approve")
        assert out["state"] == "approved" and out["answered_by"] == "cli"

        def succeeded() -> bool:
            rows = events(tmp_path, "SELECT state FROM v_runs WHERE k = ?", (new_run,))
            return bool(rows) and rows[0][0] == "succeeded"

        wait(succeeded, 60, "the new run to succeed")
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=20) == 0
    old = [
        str(t)
        for (t,) in events(
            tmp_path,
            "SELECT type FROM events WHERE stream = ? ORDER BY position",
            (f"run-{run_id}",),
        )
    ]
    assert old[-2:] == ["ApprovalWithdrawn", "RunCancelled"], old
    state = events(tmp_path, "SELECT state FROM v_approvals WHERE k = ?", (old_approval,))
    assert state[0][0] == "withdrawn"
    ws = tmp_path / "workspaces" / job_id / "report.txt"
    assert ws.read_text() == "approved text"
    assert cli_processes_under(tmp_path) == []
