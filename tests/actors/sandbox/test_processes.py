"""Process records and the end-of-run checks recovery relies on; the disk quota's measure."""

from __future__ import annotations

import subprocess
from pathlib import Path

import msgspec

from actors.sandbox import processes
from actors.sandbox.quota import breach, tree_size


def test_a_live_recorded_process_is_killed_and_said_so(tmp_path: Path) -> None:
    child = subprocess.Popen(["sleep", "60"])
    try:
        rec = processes.write_record(tmp_path, child.pid, sandboxed=True)
        assert rec is not None and rec.boot_id
        note = processes.ensure_gone(tmp_path)
        assert (
            note == f"sandbox process {child.pid} (start {rec.start_ticks}) was still alive; killed"
        )
        assert child.wait(timeout=5) == -9
    finally:
        child.kill()


def test_a_reused_pid_is_not_killed(tmp_path: Path) -> None:
    child = subprocess.Popen(["sleep", "60"])
    try:
        rec = processes.write_record(tmp_path, child.pid, sandboxed=False)
        assert rec is not None
        other = msgspec.structs.replace(rec, start_ticks=rec.start_ticks - 1)  # another process
        (tmp_path / processes.RECORD).write_bytes(msgspec.json.encode(other))
        assert "already gone" in processes.ensure_gone(tmp_path)
        assert child.poll() is None  # still running: not ours to kill
    finally:
        child.kill()
        child.wait()


def test_recovery_note_without_a_record(tmp_path: Path) -> None:
    assert "never started" in processes.ensure_run_processes_gone(tmp_path, "r1")
    (tmp_path / "runs" / "r2").mkdir(parents=True)
    assert "no process record" in processes.ensure_run_processes_gone(tmp_path, "r2")
    assert not (tmp_path / "runs" / "r2").exists()


def test_stale_job_less_workspaces_are_removed(tmp_path: Path) -> None:
    for name in ("adhoc-old", "adhoc-live", "job1"):
        (tmp_path / "workspaces" / name).mkdir(parents=True)
    assert processes.remove_stale_workspaces(tmp_path, ["live"]) == ["adhoc-old"]
    assert sorted(p.name for p in (tmp_path / "workspaces").iterdir()) == ["adhoc-live", "job1"]


def test_quota_measure_and_reserve(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_bytes(b"x" * 100_000)
    (tmp_path / "a" / "link").symlink_to("/usr")  # not followed
    assert 100_000 <= tree_size(tmp_path) < 200_000
    assert breach([tmp_path], 1_000_000, tmp_path, 0) is None
    assert "quota" in (breach([tmp_path], 50_000, tmp_path, 0) or "")
    assert "reserve" in (breach([tmp_path], None, tmp_path, 1 << 62) or "")
