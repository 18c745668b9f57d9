"""The webhook actor: one run per delivery, rendered from the template, and catch-up after a
restart for deliveries that were stored but never got their run."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from actors.untrusted import plain, segments
from actors.webhook import WebhookActor
from events.envelope import Meta
from events.runs import RunRequested
from events.webhooks import WebhookReceived
from runner.app import Runner
from runner.commands.webhooks import delivery_id_for, delivery_stream, for_runner, run_id_for
from tests.helpers import open_runner

pytestmark = pytest.mark.anyio

TEMPLATE = (
    "Event {{headers.x-github-event}}: {{payload.issue.title}} / "
    '{{payload.items.0}} / {{payload.missing | default: "none"}} / {{payload.nope}}'
)


async def hook_id(runner: Runner, template: str = TEMPLATE) -> str:
    hook, _, _ = await for_runner(runner).create(
        {"name": "h", "prompt_template": template, "scheme": "github", "model": "m-hook"}
    )
    return hook.webhook_id


async def store_delivery(runner: Runner, webhook_id: str, n: int, body: str) -> WebhookReceived:
    key = f"{webhook_id}:{n:032x}"
    delivery = delivery_id_for(key)
    ev = WebhookReceived(
        webhook_id=webhook_id,
        delivery_id=delivery,
        dedupe_key=key,
        run_id=run_id_for(delivery),
        headers={"x-github-event": "issues", "x-hub-signature-256": "****abcd"},
        body=body,
        body_is_json=True,
        verification="github:ok",
    )
    await runner.store.append(delivery_stream(key), [ev], expected="no_stream", meta=Meta())
    return ev


async def run_requests(runner: Runner) -> list[RunRequested]:
    out = []
    async for rec in runner.store.read_all():
        if isinstance(rec.event, RunRequested):
            out.append(rec.event)
    return out


async def test_handle_renders_the_template_and_requests_once(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        wid = await hook_id(runner)
        body = '{"issue": {"title": "{{payload.secret}} boom"}, "items": [{"a": 1}], "secret": "s"}'
        ev = await store_delivery(runner, wid, 1, body)
        actor = WebhookActor(runner.store)
        assert await actor.handle(ev, causation="t") == ev.run_id
        assert await actor.handle(ev, causation="t") is None
        (req,) = await run_requests(runner)
        assert req.run_id == ev.run_id and req.trigger == "webhook"
        assert req.webhook_id == wid and req.delivery_id == ev.delivery_id and req.job_id is None
        assert req.spec.model == "m-hook"
        # Every value from the delivery is a delimited block of untrusted data.
        assert req.spec.untrusted_input and req.spec.ask_first_writes is None
        assert [(k, src, text) for k, src, text in segments(req.spec.prompt)] == [
            ("trusted", "", "Event "),
            ("untrusted", "headers.x-github-event", "issues"),
            ("trusted", "", ": "),
            ("untrusted", "payload.issue.title", "{{payload.secret}} boom"),
            ("trusted", "", " / "),
            ("untrusted", "payload.items.0", '{\n  "a": 1\n}'),
            ("trusted", "", " / "),
            ("untrusted", "payload.missing", "none"),
            ("trusted", "", " / "),
            ("untrusted", "payload.nope", "[missing: payload.nope]"),
        ]


async def test_follows_the_log_and_catches_up_after_a_restart(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        wid = await hook_id(runner, "T={{payload.n}}")
        # Stored while no actor was running (e.g. the process died after the durable append).
        missed = [await store_delivery(runner, wid, i, f'{{"n": {i}}}') for i in range(3)]
        actor = WebhookActor(runner.store)
        async with anyio.create_task_group() as tg:
            tg.start_soon(actor.run)
            live = await store_delivery(runner, wid, 99, '{"n": 99}')
            with anyio.fail_after(10):
                while len(await run_requests(runner)) < 4:
                    await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
        reqs = await run_requests(runner)
        assert {r.run_id for r in reqs} == {e.run_id for e in [*missed, live]}
        assert sorted(plain(r.spec.prompt) for r in reqs) == ["T=0", "T=1", "T=2", "T=99"]
        # A second actor (another process, or a restart) finds nothing left to do.
        assert await WebhookActor(runner.store).catch_up() == []
        assert len(await run_requests(runner)) == 4


async def test_catch_up_pages_through_many_deliveries(tmp_path: Path) -> None:
    import actors.webhook as module

    async with open_runner(tmp_path) as runner:
        wid = await hook_id(runner, "x")
        for i in range(7):
            await store_delivery(runner, wid, i, "{}")
        old = module.CATCH_UP_PAGE
        module.CATCH_UP_PAGE = 3
        try:
            done = await WebhookActor(runner.store).catch_up()
        finally:
            module.CATCH_UP_PAGE = old
        assert len(done) == 7


async def test_delivery_of_a_deleted_webhook_starts_nothing(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        wid = await hook_id(runner)
        ev = await store_delivery(runner, wid, 1, "{}")
        await for_runner(runner).delete(wid)
        assert await WebhookActor(runner.store).handle(ev, causation="t") is None
        assert await WebhookActor(runner.store).catch_up() == []
        assert await run_requests(runner) == []


async def test_an_updated_template_is_used_for_later_deliveries(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        wid = await hook_id(runner, "v1 {{payload.n}}")
        actor = WebhookActor(runner.store)
        async with anyio.create_task_group() as tg:
            tg.start_soon(actor.run)
            await store_delivery(runner, wid, 1, '{"n": 1}')
            with anyio.fail_after(10):
                while len(await run_requests(runner)) < 1:
                    await anyio.sleep(0.01)
            await for_runner(runner).update(wid, {"prompt_template": "v2 {{payload.n}}"})
            await store_delivery(runner, wid, 2, '{"n": 2}')
            with anyio.fail_after(10):
                while len(await run_requests(runner)) < 2:
                    await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
        assert sorted(plain(r.spec.prompt) for r in await run_requests(runner)) == ["v1 1", "v2 2"]
