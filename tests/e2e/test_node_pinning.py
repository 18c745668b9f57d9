"""Two ``runner serve`` processes on one SQLite file, one labelled ``gpu``: only that node claims
the runs of a job pinned to ``gpu``; a run pinned to a label no live node carries is recorded
(``RunAwaitingNode``, once) and stays queued, visible with its reason in the API."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_service_processes import api, cli, env_for, events, serve, wait
from tests.fakes.anthropic_api import FakeAnthropicAPI

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
__all__ = ["api"]  # the fixture


def _ready(log: Path) -> bool:
    return "starting component" in log.read_text(errors="replace") if log.exists() else False


def test_only_the_labelled_node_claims_pinned_runs(tmp_path: Path, api: FakeAnthropicAPI) -> None:
    env = env_for(tmp_path, api)
    job = cli(env, "jobs", "create", "--name", "gpu-job", "--prompt", "say done",
              "--overlap", "allow", "--node-label", "gpu")  # fmt: skip
    job_id = job["job"]["job_id"]  # type: ignore[index]
    assert job["job"]["spec"]["node_label"] == "gpu"  # type: ignore[index]
    stray = cli(env, "jobs", "create", "--name", "tpu-job", "--prompt", "say done",
                "--node-label", "tpu")  # fmt: skip
    stray_id = stray["job"]["job_id"]  # type: ignore[index]
    logs = [tmp_path / "gpu.log", tmp_path / "plain.log"]
    procs = [
        serve({**env, "RUNNER_NODE_NAME": "gpu-box", "RUNNER_NODE_LABELS": "gpu,eu"}, logs[0]),
        serve({**env, "RUNNER_NODE_NAME": "plain-box"}, logs[1]),
    ]
    try:
        wait(lambda: all(_ready(p) for p in logs), 60, "both nodes to start")
        wait(lambda: len(events(tmp_path, "SELECT k FROM v_nodes")) == 2, 30, "both leases")
        run_ids = [str(cli(env, "jobs", "run", job_id)["run_id"]) for _ in range(4)]
        waiting = str(cli(env, "jobs", "run", stray_id)["run_id"])

        def all_done() -> bool:
            marks = ",".join("?" * len(run_ids))
            rows = events(tmp_path, f"SELECT count(*) FROM v_runs WHERE k IN ({marks}) "
                          "AND state = 'succeeded'", tuple(run_ids))  # fmt: skip
            return int(rows[0][0]) == len(run_ids)

        wait(all_done, 120, "the pinned runs to succeed")

        def recorded() -> bool:
            return bool(events(tmp_path, "SELECT 1 FROM events WHERE stream = ? AND "
                               "type = 'RunAwaitingNode'", (f"run-{waiting}",)))  # fmt: skip

        wait(recorded, 30, "the unrunnable run to be recorded")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        codes = [p.wait(timeout=30) for p in procs]
    assert codes == [0, 0], [log.read_text()[-2000:] for log in logs]
    gpu_pid = procs[0].pid
    for run_id in run_ids:
        claims = events(tmp_path, "SELECT data FROM events WHERE stream = ? AND type = "
                        "'RunClaimed'", (f"run-{run_id}",))  # fmt: skip
        assert len(claims) == 1
        claim = json.loads(claims[0][0])
        assert claim["claimer"].endswith(f":{gpu_pid}") and claim["node"] == "gpu-box", claim
    types = [r[0] for r in events(tmp_path, "SELECT type FROM events WHERE stream = ? "
                                  "ORDER BY position", (f"run-{waiting}",))]  # fmt: skip
    assert types == ["RunRequested", "RunAwaitingNode"], types
    detail = json.loads(events(tmp_path, "SELECT data FROM events WHERE stream = ? AND type = "
                               "'RunAwaitingNode'", (f"run-{waiting}",))[0][0])  # fmt: skip
    assert detail["label"] == "tpu" and "gpu-box [gpu, eu]" in detail["detail"], detail
    assert job_id != stray_id


def test_a_bad_node_label_is_refused_at_start_and_in_the_cli(
    tmp_path: Path, api: FakeAnthropicAPI
) -> None:
    env = env_for(tmp_path, api)
    bad = subprocess.run(
        [sys.executable, "-m", "runner.cli", "serve"],
        env={**env, "RUNNER_NODE_LABELS": "gpu,\x1b[31mred"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode != 0 and "RUNNER_NODE_LABELS" in bad.stderr, bad.stderr
    assert "Traceback" not in bad.stderr
    long = subprocess.run(
        [sys.executable, "-m", "runner.cli", "jobs", "create", "--name", "x", "--prompt", "p",
         "--node-label", "g" * 64],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert long.returncode != 0 and "node_label" in long.stderr and "63" in long.stderr
    assert "Traceback" not in long.stderr
