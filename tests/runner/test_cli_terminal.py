"""The CLI against hostile text: names with escape sequences, forged rows, bytes that are not
UTF-8, contradictory flags, and a fuzzer over arguments — never a traceback, never a raw control
character on the operator's terminal."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.envelope import Meta
from events.ids import new_id
from events.jobs import JobCreated, JobSpec
from events.runs import RunRequested, RunSpec
from runner.app import Runner
from runner.cli import main
from runner.config import Config
from runner.errors import InvalidInput
from runner.text import control_characters, escape_terminal, validate_name

RUNNER = [sys.executable, "-m", "runner.cli"]
HOSTILE = "evil\x1b[2J\x1b]0;pwned\x07\nfake_row  enabled\u202e\x9b31m\x00"
RAW = ("\x1b", "\x07", "\x9b", "\x00", "\u202e")


def cli(data: Path, *args: str | bytes) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "RUNNER_DATA_DIR": str(data)}
    return subprocess.run([*RUNNER, *args], capture_output=True, env=env, timeout=60)


def assert_clean(text: str) -> None:
    for ch in RAW:
        assert ch not in text, f"raw {ch!r} reached the terminal"
    assert "Traceback" not in text


async def _seed_hostile(data: Path) -> str:
    """A job and a run whose names carry escape sequences, as an older release could store."""
    async with Runner.open(Config(data_dir=data)) as runner:
        job_id = new_id("job")
        spec = JobSpec(name=HOSTILE, prompt="p", timezone="UTC\x1b[31m")
        await runner.store.append(
            f"job-{job_id}",
            [JobCreated(job_id=job_id, spec=spec)],
            meta=Meta(actor="mcp:x\x1b]0;t\x07@c\nforged"),
        )
        run_id = new_id("run")
        await runner.store.append(
            f"run-{run_id}",
            [
                RunRequested(
                    run_id=run_id, job_id=job_id, trigger="manual", spec=RunSpec(prompt="p")
                )
            ],
            expected="no_stream",
        )
        return job_id


def test_validate_name_refuses_control_characters() -> None:
    for bad in ("a\x1b[2J", "a\nb", "nul\x00", "bidi\u202e", "zw\u200b", "c1\x9b"):
        with pytest.raises(InvalidInput) as err:
            validate_name(bad)
        assert err.value.field == "name" and "U+" in err.value.message
    assert validate_name("  Café — news ☕ ") == "Café — news ☕"
    assert control_characters("ok") == []


def test_escape_terminal_keeps_json_valid() -> None:
    escaped = escape_terminal(HOSTILE)
    assert_clean(escaped)
    assert "\n" not in escaped
    assert json.loads(f'"{escaped}"') == HOSTILE
    assert escape_terminal("a\nb", keep_newlines=True) == "a\nb"
    assert escape_terminal("émile") == "émile"


def test_hostile_names_cannot_reach_the_terminal(tmp_path: Path) -> None:
    job_id = anyio.run(_seed_hostile, tmp_path)
    listing = cli(tmp_path, "jobs", "list")
    assert listing.returncode == 0
    text = listing.stdout.decode()
    assert_clean(text)
    assert len(text.splitlines()) == 1, "a newline in a name forged a row"
    assert "\\u001b[2J" in text
    runs = cli(tmp_path, "runs", "list").stdout.decode()
    assert_clean(runs)
    assert len(runs.splitlines()) == 1
    shown = cli(tmp_path, "jobs", "show", job_id).stdout.decode()
    assert_clean(shown)
    assert json.loads(shown)["spec"]["name"] == HOSTILE  # still valid JSON, same value
    history = cli(tmp_path, "history", f"job-{job_id}").stdout.decode()
    assert_clean(history)
    assert len(history.splitlines()) == 2  # the header row and the data row, nothing forged
    replay = cli(tmp_path, "replay").stdout.decode()
    assert_clean(replay)


def test_control_characters_in_a_new_name_are_refused(tmp_path: Path) -> None:
    out = cli(tmp_path, "jobs", "create", "--name", "x\x1b]0;t\x07", "--prompt", "p")
    assert out.returncode == 1
    err = out.stderr.decode()
    assert "error (name)" in err and "U+001B" in err
    assert_clean(err)


def test_non_utf8_argument_is_one_clear_line(tmp_path: Path) -> None:
    out = cli(tmp_path, "jobs", "create", "--name", b"caf\xe9", "--prompt", "p")
    assert out.returncode == 2
    lines = out.stderr.decode().splitlines()
    assert len(lines) == 1 and "argument 4 is not valid UTF-8" in lines[0]
    assert not (tmp_path / "runner.db").exists()


def test_manual_with_cron_is_refused(tmp_path: Path) -> None:
    out = cli(
        tmp_path,
        "jobs",
        "create",
        "--name",
        "n",
        "--prompt",
        "p",
        "--manual",
        "--cron",
        "0 7 * * *",
    )
    assert out.returncode == 2
    assert "not allowed with" in out.stderr.decode()
    assert "Traceback" not in out.stderr.decode()
    listing = cli(tmp_path, "jobs", "list").stdout.decode()
    assert "no jobs yet" in listing


_WORDS = st.sampled_from(
    [
        "jobs",
        "runs",
        "create",
        "list",
        "show",
        "update",
        "run",
        "cancel",
        "delete",
        "history",
        "settings",
        "--set",
        "--name",
        "--prompt",
        "--cron",
        "--manual",
        "--limit",
        "--timezone",
        "--tools",
        "--max-turns",
        "--budget-usd",
        "--state",
        "--job",
        "job_000000000000",
        "replay",
        "--from",
        "--to",
        "--type",
        "servers",
        "webhooks",
        "credentials",
    ]
)
_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40
) | st.sampled_from(["\x1b[2J", "\x00", "-1", "1e309", "9" * 30, "nan", "max_concurrent_runs=0"])


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(argv=st.lists(_WORDS | _TEXT, min_size=1, max_size=8))
def test_fuzzed_arguments_never_raise(argv: list[str]) -> None:
    """In process (fast): any argument list ends in an exit code, never an exception."""
    with tempfile.TemporaryDirectory() as tmp:
        old = os.environ.get("RUNNER_DATA_DIR")
        os.environ["RUNNER_DATA_DIR"] = tmp
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(argv)
                except SystemExit as exc:  # argparse: usage errors and --help
                    code = exc.code if isinstance(exc.code, int) else 2
        finally:
            if old is None:
                os.environ.pop("RUNNER_DATA_DIR", None)
            else:
                os.environ["RUNNER_DATA_DIR"] = old
        assert isinstance(code, int)
        assert "internal error" not in err.getvalue(), (argv, err.getvalue())
        assert_clean(out.getvalue())
        assert_clean(err.getvalue())


def test_jobs_and_runs_by_name(tmp_path: Path) -> None:
    made = cli(tmp_path, "jobs", "create", "--name", "Morning brief", "--prompt", "p")
    job_id = json.loads(made.stdout)["job"]["job_id"]
    assert json.loads(cli(tmp_path, "jobs", "show", "Morning brief").stdout)["job_id"] == job_id
    run = json.loads(cli(tmp_path, "jobs", "run", "Morning brief").stdout)
    runs = cli(tmp_path, "runs", "list", "--job", "Morning brief").stdout.decode()
    assert run["run_id"] in runs
    missing = cli(tmp_path, "runs", "list", "--job", "nope")
    assert missing.returncode == 1 and "error (job): no job with id or name 'nope'" in (
        missing.stderr.decode()
    )


def test_out_of_range_numbers_are_one_line(tmp_path: Path) -> None:
    for args in (("replay", "--from", "9" * 30), ("runs", "list", "--limit", "9" * 30)):
        out = cli(tmp_path, *args)
        err = out.stderr.decode()
        assert "Traceback" not in err and len(err.splitlines()) <= 1, err
        assert out.returncode in (0, 2)
