"""Assistant commands and turn ends on a real log: bad input, ownership, one turn at a time, a
turn crashed by a restart ends as crashed and the next message resumes the last recorded
session."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import anyio
import pytest

from actors.approval_recovery import requeue_waiting
from actors.recovery import crash_run
from events.approvals import RunAwaitingApproval
from events.ids import run_stream
from events.runs import RunClaimed, RunResult, RunStarted, RunSucceeded
from runner.app import Runner
from runner.assistant_turns import AssistantTurns
from runner.commands.assistant import ASK_FIRST, MAX_MESSAGE, title_of
from runner.errors import CommandError, Conflict, InvalidInput, NotFound
from tests.helpers import open_runner

pytestmark = pytest.mark.anyio


async def finish(runner: Runner, run_id: str, session: str) -> None:
    await runner.store.append(
        run_stream(run_id),
        [
            RunClaimed(run_id=run_id, claimer="test"),
            RunStarted(run_id=run_id, workspace="/w"),
            RunSucceeded(
                run_id=run_id,
                result_text="done",
                result=RunResult(session_id=session, cost_usd=0.25),
            ),
        ],
    )


async def test_bad_messages_are_refused_with_what_to_fix(tmp_path: Path) -> None:
    async with open_runner(tmp_path / "data") as runner:
        for text, needle in (
            ("", "empty"),
            ("  \n ", "empty"),
            ("x" * (MAX_MESSAGE + 1), str(MAX_MESSAGE)),
            ("a\0b", "NUL"),
        ):
            with pytest.raises(InvalidInput) as e:
                await runner.assistant.start(text, user="admin")
            assert needle in e.value.message and e.value.field == "message"
        assert await runner.assistant.of_user("admin") == []  # nothing half written
        with pytest.raises(NotFound):
            await runner.assistant.post("conv_nope", "hello", user="admin")


async def test_ownership_one_turn_at_a_time_and_resume(tmp_path: Path) -> None:
    async with open_runner(tmp_path / "data") as runner:
        conv, run = await runner.assistant.start("x" * 200, user="admin")
        assert conv.title == title_of("x" * 200) and len(conv.title) == 80
        assert (
            run.spec.ask_first == ASK_FIRST and run.spec.tools == () and run.spec.mcp_servers == ()
        )
        assert "mcp__runner__delete_job" in ASK_FIRST and "mcp__runner__trigger_job" in ASK_FIRST
        with pytest.raises(CommandError) as e:
            await runner.assistant.get(conv.conversation_id, user="mallory")
        assert e.value.status == 403
        with pytest.raises(CommandError) as e:
            await runner.assistant.post(conv.conversation_id, "hi", user="mallory")
        assert e.value.status == 403
        with pytest.raises(Conflict):
            await runner.assistant.post(conv.conversation_id, "again", user="admin")
        await finish(runner, run.run_id, "sess-1")
        turns = AssistantTurns(runner)
        assert await turns.end(run.run_id) is True
        assert await turns.end(run.run_id) is False  # once
        conv = await runner.assistant.get(conv.conversation_id)
        assert conv.active_run is None and conv.last_session == "sess-1"
        assert conv.cost_usd == pytest.approx(0.25)
        run2 = await runner.assistant.post(conv.conversation_id, "next", user="admin")
        assert run2.spec.assistant is not None and run2.spec.assistant.resume == "sess-1"
        assert [c.conversation_id for c in await runner.assistant.of_user("admin")] == [
            conv.conversation_id
        ]
        assert await runner.assistant.of_user("mallory") == []


async def test_a_turn_crashed_by_a_restart_ends_and_the_next_resumes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with open_runner(data) as runner:
        conv, run = await runner.assistant.start("first", user="admin")
        await finish(runner, run.run_id, "sess-1")
        await AssistantTurns(runner).end(run.run_id)
        run2 = await runner.assistant.post(conv.conversation_id, "second", user="admin")
        await runner.store.append(
            run_stream(run2.run_id),
            [
                RunClaimed(run_id=run2.run_id, claimer="gone"),
                RunStarted(run_id=run2.run_id, workspace="/w"),
            ],
        )
    # the service died mid-turn; the next start crashes the run (leases) and catches up
    async with open_runner(data) as runner:
        await crash_run(runner.store, await runner.queries.run(run2.run_id), "the process died")
        turns = AssistantTurns(runner)
        assert await turns.catch_up() == 1
        conv = await runner.assistant.get(conv.conversation_id)
        assert conv.turns[1].state == "crashed" and conv.active_run is None
        assert "process died" in conv.turns[1].detail
        run3 = await runner.assistant.post(conv.conversation_id, "third", user="admin")
        assert run3.spec.assistant is not None and run3.spec.assistant.resume == "sess-1"
        # the live path: a terminal event while the actor follows the log
        async with anyio.create_task_group() as tg:
            tg.start_soon(turns.run)
            await anyio.sleep(0.2)
            await finish(runner, run3.run_id, "sess-3")
            with anyio.fail_after(10):
                while (await runner.assistant.get(conv.conversation_id)).active_run is not None:
                    await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
        assert (await runner.assistant.get(conv.conversation_id)).last_session == "sess-3"


async def test_a_turn_waiting_for_approval_at_a_restart_is_not_rerun(tmp_path: Path) -> None:
    """Unlike a job's run, a turn held for approval when its process died is not requested
    again (that would race the user's next message): it ends cancelled, the approval is
    withdrawn, and the next message resumes the last recorded session."""
    async with open_runner(tmp_path / "data") as runner:
        conv, run = await runner.assistant.start("first", user="admin")
        await finish(runner, run.run_id, "sess-1")
        turns = AssistantTurns(runner)
        await turns.end(run.run_id)
        run2 = await runner.assistant.post(conv.conversation_id, "delete it", user="admin")
        dead = f"{socket.gethostname()}:999999"
        await runner.store.append(
            run_stream(run2.run_id),
            [
                RunClaimed(run_id=run2.run_id, claimer=dead),
                RunStarted(run_id=run2.run_id, workspace="/w"),
                RunAwaitingApproval(
                    run_id=run2.run_id,
                    approval_id="apr_t",
                    tool="mcp__runner__delete_job",
                    input={"job_id": "x"},
                    deadline=time.time() + 600,
                ),
            ],
        )
        done = await requeue_waiting(runner.store, "me:1")
        assert done == [(run2.run_id, "")]
        assert (await runner.queries.run(run2.run_id)).state == "cancelled"
        assert [r.run_id for r in await runner.queries.active_runs()] == []  # nothing re-run
        approval = await runner.approvals.get("apr_t")
        assert approval.state == "withdrawn" and approval.new_run_id is None
        assert await turns.catch_up() == 1
        conv = await runner.assistant.get(conv.conversation_id)
        assert (
            conv.turns[1].state == "cancelled" and "send the message again" in conv.turns[1].detail
        )
        run3 = await runner.assistant.post(conv.conversation_id, "delete it", user="admin")
        assert run3.spec.assistant is not None and run3.spec.assistant.resume == "sess-1"


async def test_delete_removes_the_conversation_and_its_kept_folders(tmp_path: Path) -> None:
    from actors.assistant_run import conversation_dirs, end_turn
    from actors.executor_options import ExecutorSettings

    data = tmp_path / "data"
    async with open_runner(data) as runner:
        conv, run = await runner.assistant.start("first", user="admin")
        dirs = conversation_dirs(
            ExecutorSettings(data_dir=data, tmp_root=tmp_path), run.run_id, conv.conversation_id
        )
        end_turn(dirs)
        with pytest.raises(Conflict):
            await runner.assistant.delete(conv.conversation_id, user="admin")  # still answering
        await finish(runner, run.run_id, "sess-1")
        turns = AssistantTurns(runner)
        await turns.end(run.run_id)
        with pytest.raises(CommandError) as e:
            await runner.assistant.delete(conv.conversation_id, user="mallory")
        assert e.value.status == 403
        async with anyio.create_task_group() as tg:
            tg.start_soon(turns.run)
            await anyio.sleep(0.2)
            await runner.assistant.delete(conv.conversation_id, user="admin")
            with anyio.fail_after(10):
                while dirs.config.exists() or dirs.workspace.exists():
                    await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
        with pytest.raises(NotFound):
            await runner.assistant.get(conv.conversation_id)
        assert await runner.assistant.of_user("admin") == []
        assert (await runner.queries.run(run.run_id)).state == "succeeded"  # its runs stay
        # folders left by a conversation deleted while no actor followed the log go at start
        (data / "assistant" / "conv_gone" / "config").mkdir(parents=True)
        (data / "assistant" / "not.ours").mkdir()
        await turns.catch_up()
        assert not (data / "assistant" / "conv_gone").exists()
        assert (data / "assistant" / "not.ours").exists()
