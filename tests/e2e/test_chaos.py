"""Chaos, with real ``runner serve`` processes on one database (loopback only, bounded):

* kill -9 soak: two processes, runs in flight, the one running a run is killed; the other
  recovers the run through the lease (recovery time measured), the killed one restarts.
  ``CHAOS_KILLS`` kills (3 in the suite, ``make soak`` runs 24).
* disk full on a small tmpfs the test mounts itself (skipped, with the reason, where it can't);
* the write lock held by another process;
* a never-firing cron injected as a raw old (schema 1) event.

Each prints its figures; the README's reliability section records them.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import time
from pathlib import Path

import pytest

from runner.cli import EXIT_STORAGE
from tests.e2e.chaos_support import (
    cli_json,
    duplicates,
    fill_disk,
    inject_old_job_created,
    run_cli,
    small_file_system,
    wait_for_log,
)
from tests.e2e.test_service_processes import cli_processes_under, env_for, events, serve, wait
from tests.fakes.anthropic_api import FakeAnthropicAPI, Text, Turn

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
KILLS = int(os.environ.get("CHAOS_KILLS", "3"))
READY = "Claude Runner is running"


def running_claims(data: Path) -> list[tuple[str, int]]:
    rows = events(data, "SELECT k, doc ->> '$.claimer' FROM v_runs WHERE state = 'running'")
    return [(str(k), int(str(c).rpartition(":")[2])) for k, c in rows if c]


def _await_run_in_flight(data: Path, procs: dict[int, subprocess.Popen[bytes]]) -> tuple[str, int]:
    """A run in flight and the pid of the live process running it."""
    found: list[tuple[str, int]] = []

    def in_flight() -> bool:
        live = {pid for pid, p in procs.items() if p.poll() is None}
        found[:] = [(r, pid) for r, pid in running_claims(data) if pid in live][:1]
        return bool(found)

    wait(in_flight, 60, "a run in flight")
    return found[0]


def _await_recovery(data: Path, run_id: str, killed_at: float, kill: int) -> float:
    """Seconds from the kill to the survivor's ``RunCrashed`` of ``run_id``."""
    seen: list[float] = []

    def crashed() -> bool:
        rows = events(data, "SELECT recorded_at FROM events WHERE stream = ? AND "
                      "type = 'RunCrashed'", (f"run-{run_id}",))  # fmt: skip
        seen[:] = [int(rows[0][0]) / 1e6 - killed_at] if rows else []
        return bool(rows)

    wait(crashed, 45, f"the survivor to recover {run_id} (kill {kill + 1})")
    return seen[0]


def test_kill_minus_nine_soak(tmp_path: Path) -> None:
    with FakeAnthropicAPI() as api:
        api.script("slow", [Turn([Text("working " * 120, chunk=40)], delay=0.15)])
        env = env_for(tmp_path, api)
        job = cli_json(env, "jobs", "create", "--name", "soak", "--prompt", "[[script:slow]] go",
                       "--overlap", "allow", "--max-attempts", "10", "--backoff-seconds", "0")  # fmt: skip
        job_id = str(job["job"]["job_id"])  # type: ignore[index]
        procs: dict[int, subprocess.Popen[bytes]] = {}

        def start(n: int) -> subprocess.Popen[bytes]:
            log = tmp_path / f"serve-{n}.log"
            proc = serve(env, log)
            procs[proc.pid] = proc
            wait_for_log(log, READY)
            return proc

        requested: list[str] = []
        recovery: list[float] = []
        started = time.monotonic()
        start(0)
        start(1)
        try:
            for kill in range(KILLS):
                for _ in range(2):
                    requested.append(str(cli_json(env, "jobs", "run", job_id)["run_id"]))
                run_id, pid = _await_run_in_flight(tmp_path, procs)
                killed_at = time.time()
                procs[pid].send_signal(signal.SIGKILL)
                procs[pid].wait(timeout=10)
                del procs[pid]
                recovery.append(_await_recovery(tmp_path, run_id, killed_at, kill))
                start(kill + 2)

            def drained() -> bool:
                rows = events(tmp_path, "SELECT count(*) FROM v_runs WHERE state IN "
                              "('requested','claimed','running')")  # fmt: skip
                return int(rows[0][0]) == 0

            wait(drained, 180, "every run (and its retries) to finish")
        finally:
            codes = []
            for proc in procs.values():
                proc.send_signal(signal.SIGTERM)
            for proc in procs.values():
                codes.append(proc.wait(timeout=40))
        elapsed = time.monotonic() - started
        wait(lambda: not cli_processes_under(tmp_path), 20, "no orphaned CLI")
        lost = [r for r in requested
                if not events(tmp_path, "SELECT 1 FROM v_runs WHERE k = ? AND state IN "
                              "('succeeded','crashed','cancelled','failed')", (r,))]  # fmt: skip
        dup = duplicates(tmp_path)
        orphans = cli_processes_under(tmp_path)
        retried_ok = events(tmp_path, "SELECT count(*) FROM v_runs WHERE trigger = 'retry' AND "
                            "state = 'succeeded'")[0][0]  # fmt: skip
        audit = run_cli(env, "audit", timeout=180)
        print(
            f"\nkill -9 soak: {KILLS} kills in {elapsed:.0f} s, 2 processes, {len(requested)} runs "
            f"requested; lost {len(lost)}, duplicate slots {len(dup)}, orphaned CLIs "
            f"{len(orphans)}; {retried_ok} retries succeeded; recovery after kill: median "
            f"{statistics.median(recovery):.1f} s, max {max(recovery):.1f} s (target <= 30 s); "
            f"audit {'clean' if audit.returncode == 0 else 'FAILED'}"
        )
        assert codes == [0] * len(codes)
        assert not lost and not dup and not orphans, (lost, dup, orphans)
        assert max(recovery) <= 30
        assert audit.returncode == 0, audit.stdout + audit.stderr


def test_disk_full_on_a_small_file_system(tmp_path: Path) -> None:
    with small_file_system(tmp_path / "small") as mnt:
        if isinstance(mnt, str):
            pytest.skip(mnt)
        with FakeAnthropicAPI() as api:
            data = mnt / "data"
            env = env_for(data, api)
            cli_json(env, "jobs", "create", "--name", "before", "--prompt", "p")
            log = tmp_path / "serve.log"  # outside the small disk
            proc = serve(env, log)
            try:
                wait_for_log(log, READY)
                filler = fill_disk(mnt)
                big = "x" * 99_000
                outcomes: list[int] = []
                refused = None
                for i in range(60):  # until SQLite needs a page it cannot get
                    out = run_cli(env, "jobs", "create", "--name", f"big{i}", "--prompt", big)
                    outcomes.append(out.returncode)
                    if out.returncode != 0:
                        refused = out
                        break
                assert refused is not None, outcomes
                assert refused.returncode == EXIT_STORAGE, refused.stderr
                lines = refused.stderr.strip().splitlines()
                assert len(lines) == 1 and "disk full" in lines[0], refused.stderr
                listed = run_cli(env, "jobs", "list")
                assert listed.returncode == 0, listed.stderr
                time.sleep(6)  # a heartbeat or two on a full disk
                assert proc.poll() is None, log.read_text()[-3000:]
                filler.unlink()
                freed_at = time.monotonic()
                after = run_cli(env, "jobs", "create", "--name", "after", "--prompt", "p")
                assert after.returncode == 0, after.stderr
                resumed = time.monotonic() - freed_at
            finally:
                proc.send_signal(signal.SIGTERM)
                code = proc.wait(timeout=40)
            assert code == 0, log.read_text()[-3000:]
            assert "Traceback" not in log.read_text()
            audit = run_cli(env, "audit", timeout=180)
            print(f"\ndisk full: {len(outcomes) - 1} big writes fit, then exit {EXIT_STORAGE} "
                  f"({lines[0][:90]}...); service stayed up; the first write after "
                  f"freeing space succeeded (CLI round trip {resumed:.1f} s); "
                  f"audit {'clean' if audit.returncode == 0 else 'FAILED'}")  # fmt: skip
            assert audit.returncode == 0, audit.stdout + audit.stderr


def test_write_lock_held_by_another_process(tmp_path: Path) -> None:
    with FakeAnthropicAPI() as api:
        env = env_for(tmp_path, api)
        cli_json(env, "jobs", "create", "--name", "before", "--prompt", "p")
        log = tmp_path / "serve.log"
        proc = serve(env, log)
        holder = None
        try:
            wait_for_log(log, READY)
            holder = subprocess.Popen(
                ["python3", "-c",
                 "import sqlite3, time\n"
                 f"c = sqlite3.connect({str(tmp_path / 'runner.db')!r}, isolation_level=None)\n"
                 "c.execute('BEGIN IMMEDIATE'); print('held', flush=True); time.sleep(60)"],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            t = time.monotonic()
            listed = run_cli(env, "jobs", "list")
            read_took = time.monotonic() - t
            assert listed.returncode == 0 and "before" in listed.stdout, listed.stderr
            refused = run_cli(env, "jobs", "create", "--name", "during", "--prompt", "p")
            assert refused.returncode == EXIT_STORAGE, refused.stderr
            assert "locked" in refused.stderr and "Traceback" not in refused.stderr
            assert proc.poll() is None
            holder.kill()
            holder.wait()
            after = run_cli(env, "jobs", "create", "--name", "after", "--prompt", "p")
            assert after.returncode == 0, after.stderr
        finally:
            if holder is not None and holder.poll() is None:
                holder.kill()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=40)
        assert code == 0, log.read_text()[-3000:]
        audit = run_cli(env, "audit", timeout=180)
        print(f"\nheld write lock: read-only 'jobs list' answered in {read_took:.1f} s; a write "
              f"exited {EXIT_STORAGE} naming the lock; service stayed up; audit "
              f"{'clean' if audit.returncode == 0 else 'FAILED'}")  # fmt: skip
        assert audit.returncode == 0, audit.stdout + audit.stderr


def test_never_firing_cron_injected_as_a_raw_old_event(tmp_path: Path) -> None:
    with FakeAnthropicAPI() as api:
        env = env_for(tmp_path, api)
        good = cli_json(env, "jobs", "create", "--name", "good", "--prompt", "p",
                        "--cron", "0 7 * * *")  # fmt: skip
        inject_old_job_created(tmp_path / "runner.db", "feb30", "old poison", "0 0 30 2 *")
        listed = run_cli(env, "jobs", "list")
        assert listed.returncode == 0 and "old poison" in listed.stdout, listed.stderr
        log = tmp_path / "serve.log"
        proc = serve(env, log)
        try:
            wait_for_log(log, READY)

            def broken() -> bool:
                return bool(events(tmp_path, "SELECT 1 FROM events WHERE stream = 'job-feb30' "
                                   "AND type = 'JobScheduleBroken'"))  # fmt: skip

            wait(broken, 30, "the poisoned job to be marked broken")
            shown = cli_json(env, "jobs", "show", "feb30")
            assert "never fires" in str(shown)
            crashes = events(tmp_path, "SELECT count(*) FROM events WHERE type = 'ActorCrashed'")
            assert crashes[0][0] == 0
            assert proc.poll() is None
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=40)
        assert code == 0
        assert good["job"]
        audit = run_cli(env, "audit", timeout=180)
        assert audit.returncode == 0, audit.stdout + audit.stderr


def test_read_only_file_system(tmp_path: Path) -> None:
    with small_file_system(tmp_path / "small") as mnt:
        if isinstance(mnt, str):
            pytest.skip(mnt)
        env = {**os.environ, "RUNNER_DATA_DIR": str(mnt / "data")}
        cli_json(env, "jobs", "create", "--name", "before", "--prompt", "p")
        remount = subprocess.run(["mount", "-o", "remount,ro", str(mnt)], capture_output=True,
                                 text=True)  # fmt: skip
        if remount.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {remount.stderr.strip()}")
        try:
            refused = run_cli(env, "jobs", "create", "--name", "during", "--prompt", "p")
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(mnt)], check=True)
        assert refused.returncode == EXIT_STORAGE, refused.stderr
        assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
        assert "storage unavailable (read only)" in refused.stderr
        after = run_cli(env, "jobs", "create", "--name", "after", "--prompt", "p")
        assert after.returncode == 0, after.stderr
        print(f"\nread-only file system: {refused.stderr.strip()}")
