"""The runs fold: the state machine of DESIGN.md, usage and cost per run, job and day."""

from __future__ import annotations

import itertools

from events.catalogue import Event
from events.envelope import Meta, Recorded
from events.jobs import JobCreated, JobSpec
from events.runs import (
    RunCancelled,
    RunClaimed,
    RunFailed,
    RunOutput,
    RunRequested,
    RunResult,
    RunSkipped,
    RunSpec,
    RunStarted,
    RunSucceeded,
    RunUsage,
    Usage,
)
from projections import ALL_PROJECTIONS, CostRow, Folder, JobView, RunView

DAY_US = 1_795_320_000_000_000  # 2026-11-22


class Log:
    def __init__(self) -> None:
        self.folder = Folder(ALL_PROJECTIONS)
        self.pos = itertools.count(1)
        self.versions: dict[str, int] = {}

    def add(self, stream: str, event: Event, at_us: int = DAY_US) -> None:
        v = self.versions.get(stream, -1) + 1
        self.versions[stream] = v
        rec = Recorded(
            position=next(self.pos),
            stream=stream,
            version=v,
            type=type(event).__name__,
            event=event,
            meta=Meta(),
            recorded_at_us=at_us,
            hash="",
        )
        self.folder.apply(rec)
        self.folder.commit()

    def run(self, run_id: str) -> RunView:
        row: RunView | None = self.folder.get("v_runs", run_id)
        assert row is not None
        return row


def test_happy_path_state_machine_and_costs() -> None:
    log = Log()
    log.add("job-j", JobCreated(job_id="j", spec=JobSpec(name="n", prompt="p", cron="* * * * *")))
    log.add(
        "run-r",
        RunRequested(
            run_id="r",
            job_id="j",
            trigger="schedule",
            spec=RunSpec(prompt="p"),
            scheduled_for=100.0,
        ),
    )
    assert log.run("r").state == "requested"
    job: JobView | None = log.folder.get("v_jobs", "j")
    assert job is not None and job.last_scheduled_for == 100.0
    log.add("run-r", RunClaimed(run_id="r", claimer="me"))
    assert log.run("r").state == "claimed"
    log.add("run-r", RunStarted(run_id="r", workspace="/w", model="claude-sonnet-4-5"))
    log.add("run-r", RunOutput(run_id="r", seq=0, kind="text", text="hi"))
    log.add(
        "run-r",
        RunUsage(
            run_id="r",
            message_id="m1",
            model="claude-sonnet-4-5",
            usage=Usage(input_tokens=10, output_tokens=1),
        ),
    )
    run = log.run("r")
    assert (run.state, run.usage.input_tokens) == ("running", 10)
    assert len([k for k in log.folder.tables if k == "v_run_output"]) == 1
    result = RunResult(
        usage=Usage(
            input_tokens=240,
            output_tokens=14,
            cache_creation_input_tokens=20,
            cache_read_input_tokens=60,
        ),
        cost_usd=0.001023,
        num_turns=1,
        model="claude-sonnet-4-5",
    )
    log.add("run-r", RunSucceeded(run_id="r", result_text="done", result=result))
    run = log.run("r")
    assert run.state == "succeeded" and run.cost_usd == 0.001023 and run.usage.output_tokens == 14
    cost: CostRow | None = log.folder.get("v_costs", "2026-11-22|j|claude-sonnet-4-5")
    assert (
        cost is not None
        and cost.runs == 1
        and cost.cost_usd == 0.001023
        and cost.cache_read_tokens == 60
    )
    job = log.folder.get("v_jobs", "j")
    assert job is not None and (job.last_state, job.run_count, job.cost_usd) == (
        "succeeded",
        1,
        0.001023,
    )


def test_terminal_state_is_sticky_and_counted_once() -> None:
    log = Log()
    log.add("job-j", JobCreated(job_id="j", spec=JobSpec(name="n", prompt="p")))
    log.add(
        "run-r", RunRequested(run_id="r", job_id="j", trigger="manual", spec=RunSpec(prompt="p"))
    )
    log.add("run-r", RunCancelled(run_id="r", reason="user", result=RunResult(cost_usd=0.5)))
    log.add(
        "run-r",
        RunFailed(run_id="r", reason="api_error", message="late", result=RunResult(cost_usd=9.0)),
    )
    assert log.run("r").state == "cancelled"
    cost: CostRow | None = log.folder.get("v_costs", "2026-11-22|j|-")
    assert cost is not None and cost.runs == 1 and cost.cost_usd == 0.5


def test_missed_slot_skip_without_request_creates_a_skipped_run() -> None:
    log = Log()
    log.add("job-j", JobCreated(job_id="j", spec=JobSpec(name="n", prompt="p", cron="0 * * * *")))
    log.add(
        "run-s",
        RunSkipped(run_id="s", job_id="j", reason="missed", detail="down", scheduled_for=3600.0),
    )
    run = log.run("s")
    assert run.state == "skipped" and run.reason == "missed" and run.scheduled_for == 3600.0
    job: JobView | None = log.folder.get("v_jobs", "j")
    assert job is not None and job.last_scheduled_for == 3600.0 and job.run_count == 0


def test_rollback_forgets_staged_changes() -> None:
    folder = Folder(ALL_PROJECTIONS)
    rec = Recorded(
        position=1,
        stream="job-j",
        version=0,
        type="JobCreated",
        event=JobCreated(job_id="j", spec=JobSpec(name="n", prompt="p")),
        meta=Meta(),
        recorded_at_us=1,
        hash="",
    )
    folder.apply(rec)
    assert folder.get("v_jobs", "j") is not None
    folder.rollback()
    assert folder.get("v_jobs", "j") is None
