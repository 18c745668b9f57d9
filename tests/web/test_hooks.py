"""Webhook ingress over real HTTP (Hypercorn on loopback): every scheme with real signatures,
duplicates, size limit, malformed JSON, disabled hooks, rate limits, and secrets that never leak."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from hypercorn.asyncio import serve
from hypercorn.config import Config as HyperConfig
from quart import Quart

from actors.untrusted import plain
from actors.webhook import WebhookActor
from events.webhooks import WebhookReceived, WebhookRejected
from runner.app import Runner
from runner.commands.webhooks import for_runner
from runner.webhooks.verify import sign_github, sign_standard_webhooks, sign_stripe
from tests.helpers import open_runner
from web.api_webhooks import api_webhooks_blueprint
from web.hooks import hooks_blueprint

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def make_app(runner: Runner) -> Quart:
    app = Quart(__name__)
    app.register_blueprint(hooks_blueprint(runner))
    app.register_blueprint(api_webhooks_blueprint(runner))
    return app


@dataclass
class Env:
    runner: Runner
    http: httpx2.AsyncClient
    actor: WebhookActor


@asynccontextmanager
async def serving(data_dir: Path, *, actor: bool = True) -> AsyncIterator[Env]:
    async with open_runner(data_dir) as runner:
        port = free_port()
        cfg = HyperConfig()
        cfg.bind = [f"127.0.0.1:{port}"]
        cfg.accesslog = None
        cfg.errorlog = None
        cfg.graceful_timeout = 2
        stop, done = anyio.Event(), anyio.Event()
        hook_actor = WebhookActor(runner.store)

        async def run_server() -> None:
            try:
                await serve(make_app(runner), cfg, shutdown_trigger=stop.wait)
            finally:
                done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(run_server)
            if actor:
                tg.start_soon(hook_actor.run)
            base = f"http://127.0.0.1:{port}"
            async with httpx2.AsyncClient(base_url=base, timeout=30) as http:
                for _ in range(200):
                    try:
                        await http.get("/")
                        break
                    except httpx2.TransportError:
                        await anyio.sleep(0.02)
                yield Env(runner, http, hook_actor)
            stop.set()
            with anyio.move_on_after(10):
                await done.wait()
            tg.cancel_scope.cancel()


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with serving(tmp_path) as e:
        yield e


async def create(env: Env, **data: Any) -> dict[str, Any]:
    payload = {"name": "hook", "prompt_template": "Issue: {{payload.issue.title}}", **data}
    r = await env.http.post("/api/v1/webhooks", json=payload)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def wait_run(env: Env, run_id: str) -> Any:
    for _ in range(300):
        rows = await env.runner.store.query("SELECT 1 FROM v_runs WHERE k = ?", (run_id,))
        if rows:
            return await env.runner.queries.run(run_id)
        await anyio.sleep(0.01)
    raise AssertionError(f"run {run_id} never requested")


Signer = Callable[[str, bytes, dict[str, Any]], tuple[str, dict[str, str]]]


def _github(secret: str, body: bytes, o: dict[str, Any]) -> tuple[str, dict[str, str]]:
    return "", {
        "X-GitHub-Delivery": o["id"],
        "X-GitHub-Event": "issues",
        "X-Hub-Signature-256": sign_github(o.get("sign_with", secret), body),
    }


def _standard(secret: str, body: bytes, o: dict[str, Any]) -> tuple[str, dict[str, str]]:
    ts = int(time.time()) + o.get("skew", 0)
    sig = sign_standard_webhooks(o.get("sign_with", secret), o["id"], ts, body)
    return "", {"webhook-id": o["id"], "webhook-timestamp": str(ts), "webhook-signature": sig}


def _stripe(secret: str, body: bytes, o: dict[str, Any]) -> tuple[str, dict[str, str]]:
    ts = int(time.time()) + o.get("skew", 0)
    return "", {"Stripe-Signature": sign_stripe(o.get("sign_with", secret), body, ts)}


def _url_token(secret: str, body: bytes, o: dict[str, Any]) -> tuple[str, dict[str, str]]:
    return "/" + o.get("sign_with", secret), {"Idempotency-Key": o["id"]}


SIGNERS: dict[str, Signer] = {
    "github": _github,
    "standard_webhooks": _standard,
    "stripe": _stripe,
    "url_token": _url_token,
}
WRONG = {
    "github": "wrong-secret-0123456789",
    "standard_webhooks": "whsec_" + "A" * 32 + "==",
    "stripe": "whsec_wrong_but_long_enough",
    "url_token": "x" * 43,
}


async def post(
    env: Env, hook: dict[str, Any], secret: str, body: bytes, **opts: Any
) -> httpx2.Response:
    opts.setdefault("id", f"evt-{time.monotonic_ns()}")
    suffix, headers = SIGNERS[hook["scheme"]](secret, body, opts)
    headers["Content-Type"] = "application/json"
    return await env.http.post(
        f"/hooks/{hook['webhook_id']}{suffix}", content=body, headers=headers
    )


def body_for(scheme: str, n: int = 1) -> bytes:
    data: dict[str, Any] = {"issue": {"title": f"Crash #{n}"}}
    if scheme == "stripe":
        data["id"] = f"evt_stripe_{n}_{time.monotonic_ns()}"
    return json.dumps(data).encode()


@pytest.mark.parametrize("scheme", list(SIGNERS))
async def test_valid_delivery_is_accepted_and_becomes_one_run(env: Env, scheme: str) -> None:
    hook = await create(env, scheme=scheme)
    r = await post(env, hook, hook["secret"], body_for(scheme))
    assert r.status_code == 202, r.text
    ids = r.json()
    assert ids["delivery_id"].startswith("dlv_") and ids["run_id"].startswith("run_")
    run = await wait_run(env, ids["run_id"])
    assert run.trigger == "webhook" and run.webhook_id == hook["webhook_id"]
    assert plain(run.spec.prompt) == "Issue: Crash #1"
    delivery = await env.runner.queries.delivery(ids["delivery_id"])
    assert delivery.verification == f"{scheme}:ok"
    for name, value in delivery.headers.items():
        if "signature" in name:
            assert value.startswith("****")


@pytest.mark.parametrize("scheme", list(SIGNERS))
async def test_wrong_secret_is_401_and_recorded_without_the_body(env: Env, scheme: str) -> None:
    hook = await create(env, scheme=scheme)
    body = b'{"issue": {"title": "forged-body-marker"}}'
    r = await post(env, hook, hook["secret"], body, sign_with=WRONG[scheme])
    assert r.status_code == 401
    assert r.json() == {"error": "verification_failed"}
    rows = await env.runner.store.query("SELECT type, data FROM events")
    assert not any(t == "WebhookReceived" for t, _ in rows)
    rejected = [bytes(d) for t, d in rows if t == "WebhookRejected"]
    assert len(rejected) == 1 and b"forged-body-marker" not in rejected[0]
    page = await env.runner.queries.rejections(hook["webhook_id"])
    assert page.items[0].status == 401
    assert page.items[0].reason in ("signature_mismatch", "token_mismatch")


@pytest.mark.parametrize("scheme", ["standard_webhooks", "stripe"])
@pytest.mark.parametrize(
    ("skew", "reason"), [(-330, "expired"), (330, "future")]
)  # clear of the 300 s edge
async def test_stale_and_future_timestamps_are_refused(
    env: Env, scheme: str, skew: int, reason: str
) -> None:
    hook = await create(env, scheme=scheme)
    r = await post(env, hook, hook["secret"], body_for(scheme), skew=skew)
    assert r.status_code == 401
    page = await env.runner.queries.rejections(hook["webhook_id"])
    assert reason in page.items[0].reason
    ok = await post(env, hook, hook["secret"], body_for(scheme), skew=-200)
    assert ok.status_code == 202


@pytest.mark.parametrize("scheme", list(SIGNERS))
async def test_rotation_grace_old_and_new_verify_then_old_stops(env: Env, scheme: str) -> None:
    hook = await create(env, scheme=scheme)
    wid, old = hook["webhook_id"], hook["secret"]
    r = await env.http.post(f"/api/v1/webhooks/{wid}/rotate-secret", json={"grace_seconds": 3600})
    assert r.status_code == 200
    new = r.json()["secret"]
    assert new != old
    assert (await post(env, hook, old, body_for(scheme, 2))).status_code == 202
    accepted = await post(env, hook, new, body_for(scheme, 3))
    assert accepted.status_code == 202
    previous = await env.runner.queries.deliveries(wid)
    assert {d.verification for d in previous.items} == {
        f"{scheme}:ok",
        f"{scheme}:ok:previous_secret",
    }
    r = await env.http.post(f"/api/v1/webhooks/{wid}/rotate-secret", json={"grace_seconds": 0})
    newest = r.json()["secret"]
    assert (await post(env, hook, new, body_for(scheme, 4))).status_code == 401
    assert (await post(env, hook, newest, body_for(scheme, 5))).status_code == 202


@pytest.mark.parametrize("scheme", list(SIGNERS))
async def test_50_concurrent_identical_deliveries_make_one_run(env: Env, scheme: str) -> None:
    hook = await create(env, scheme=scheme, rate_per_minute=6000, burst=100)
    body = body_for(scheme)
    suffix, headers = SIGNERS[scheme](hook["secret"], body, {"id": "same-delivery"})
    responses: list[httpx2.Response] = []

    async def one() -> None:
        responses.append(
            await env.http.post(
                f"/hooks/{hook['webhook_id']}{suffix}", content=body, headers=headers
            )
        )

    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(one)
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 49 + [202]
    assert len({(r.json()["delivery_id"], r.json()["run_id"]) for r in responses}) == 1
    assert sum(r.json()["duplicate"] for r in responses) == 49
    await wait_run(env, responses[0].json()["run_id"])
    await anyio.sleep(0.2)
    rows = await env.runner.store.query(
        "SELECT count(*) FROM events WHERE type = 'WebhookReceived'"
    )
    assert rows[0][0] == 1
    runs = await env.runner.store.query("SELECT count(*) FROM events WHERE type = 'RunRequested'")
    assert runs[0][0] == 1


async def test_duplicates_across_two_processes_make_one_delivery(tmp_path: Path) -> None:
    """Two runners (two stores, one file) — the dedupe stream is created only once."""
    async with serving(tmp_path) as a, serving(tmp_path, actor=False) as b:
        hook = await create(a, scheme="github", burst=100)
        body = body_for("github")
        _, headers = _github(hook["secret"], body, {"id": "cross"})
        url = f"/hooks/{hook['webhook_id']}"
        results: list[httpx2.Response] = []

        async def send(e: Env) -> None:
            results.append(await e.http.post(url, content=body, headers=headers))

        await anyio.sleep(2.1)  # b's cache of "unknown webhook" (if any) expires
        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(send, a if i % 2 else b)
        assert sorted(r.status_code for r in results) == [200] * 19 + [202]
        rows = await a.runner.store.query(
            "SELECT count(*) FROM events WHERE type = 'WebhookReceived'"
        )
        assert rows[0][0] == 1


async def test_body_over_1_mib_is_413(env: Env) -> None:
    hook = await create(env, scheme="github")
    big = b'{"x": "' + b"a" * (1 << 20) + b'"}'
    r = await post(env, hook, hook["secret"], big)
    assert r.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"b" * 65536

    _suffix, headers = _github(hook["secret"], b"", {"id": "chunked"})
    r = await env.http.post(f"/hooks/{hook['webhook_id']}", content=chunks(), headers=headers)
    assert r.status_code == 413
    exact = b'"' + b"c" * ((1 << 20) - 2) + b'"'
    assert (await post(env, hook, hook["secret"], exact)).status_code == 202


async def test_malformed_json_is_recorded_and_rendered_as_raw_text(env: Env) -> None:
    hook = await create(env, scheme="github", prompt_template="Got: {{payload}}")
    body = b'{"issue": not json'
    r = await post(env, hook, hook["secret"], body)
    assert r.status_code == 202
    delivery = await env.runner.queries.delivery(r.json()["delivery_id"])
    assert delivery.body == body.decode() and delivery.body_is_json is False
    run = await wait_run(env, r.json()["run_id"])
    assert plain(run.spec.prompt) == "Got: " + body.decode()


async def test_unknown_disabled_and_deleted_hooks_answer_404(env: Env) -> None:
    assert (await env.http.post("/hooks/wh_nope", content=b"{}")).status_code == 404
    hook = await create(env, scheme="github")
    wid = hook["webhook_id"]
    assert (await env.http.post(f"/api/v1/webhooks/{wid}/disable")).json()["enabled"] is False
    r = await post(env, hook, hook["secret"], body_for("github"))
    assert r.status_code == 404
    assert (await env.http.post(f"/api/v1/webhooks/{wid}/enable")).status_code == 200
    assert (await post(env, hook, hook["secret"], body_for("github"))).status_code == 202
    assert (await env.http.delete(f"/api/v1/webhooks/{wid}")).status_code == 200
    assert (await post(env, hook, hook["secret"], body_for("github"))).status_code == 404


async def test_rate_limit_answers_429_with_retry_after(env: Env) -> None:
    hook = await create(env, scheme="github", rate_per_minute=6, burst=3)
    codes = [(await post(env, hook, hook["secret"], body_for("github", i))) for i in range(5)]
    assert [r.status_code for r in codes] == [202, 202, 202, 429, 429]
    assert 1 <= int(codes[3].headers["Retry-After"]) <= 10
    page = await env.runner.queries.rejections(hook["webhook_id"])
    assert {r.reason for r in page.items} == {"rate_limited"}


async def test_forgery_flood_records_few_rejections(env: Env) -> None:
    hook = await create(env, scheme="github")
    for i in range(40):
        r = await post(env, hook, hook["secret"], body_for("github", i), sign_with="f" * 20)
        assert r.status_code == 401
    rows = await env.runner.store.query(
        "SELECT count(*) FROM events WHERE type = 'WebhookRejected'"
    )
    assert rows[0][0] <= 12  # burst of 10 (+ refill), not 40


async def test_secret_appears_only_in_the_one_time_reveal(env: Env) -> None:
    hook = await create(env, scheme="url_token")
    wid, secret = hook["webhook_id"], hook["secret"]
    assert hook["path"] == f"/hooks/{wid}/{secret}" and hook["url"].endswith(hook["path"])
    assert (await post(env, hook, secret, body_for("url_token"))).status_code == 202
    assert (await post(env, hook, "y" * 43, body_for("url_token"))).status_code == 401
    rotated = (await env.http.post(f"/api/v1/webhooks/{wid}/rotate-secret", json={})).json()
    later = rotated["secret"]
    await post(env, hook, later, body_for("url_token", 2))
    texts = [
        (await env.http.get("/api/v1/webhooks")).text,
        (await env.http.get(f"/api/v1/webhooks/{wid}")).text,
        (await env.http.get(f"/api/v1/webhooks/{wid}/deliveries")).text,
        (await env.http.get(f"/api/v1/webhooks/{wid}/rejections")).text,
        (await env.http.patch(f"/api/v1/webhooks/{wid}", json={"burst": 5})).text,
    ]
    for text in texts:
        assert secret not in text and later not in text
    rows = await env.runner.store.query("SELECT data, meta FROM events")
    views = await env.runner.store.query("SELECT doc FROM v_webhooks")
    for blob in [bytes(r[0]) + bytes(r[1]) for r in rows] + [bytes(v[0]) for v in views]:
        assert secret.encode() not in blob and later.encode() not in blob


async def test_api_lists_deliveries_and_replays_one(env: Env) -> None:
    hook = await create(env, scheme="github", prompt_template="E={{headers.x-github-event}}")
    wid = hook["webhook_id"]
    r = await post(env, hook, hook["secret"], body_for("github"))
    first = r.json()
    await wait_run(env, first["run_id"])
    page = (await env.http.get(f"/api/v1/webhooks/{wid}/deliveries")).json()
    assert page["total"] == 1
    (item,) = page["items"]
    assert item["delivery_id"] == first["delivery_id"] and item["run_id"] == first["run_id"]
    assert item["headers"]["x-hub-signature-256"].startswith("****")
    assert item["run_state"] == "requested"
    assert json.loads(item["body"])["issue"]["title"] == "Crash #1"
    detail = (
        await env.http.get(f"/api/v1/webhooks/{wid}/deliveries/{first['delivery_id']}")
    ).json()
    assert detail["run"]["run_id"] == first["run_id"] and detail["verification"] == "github:ok"
    replay = await env.http.post(f"/api/v1/webhooks/{wid}/deliveries/{first['delivery_id']}/replay")
    assert replay.status_code == 202
    again = replay.json()
    assert again["replay_of"] == first["delivery_id"] and again["run_id"] != first["run_id"]
    run = await wait_run(env, again["run_id"])
    assert plain(run.spec.prompt) == "E=issues"
    assert (await env.http.get(f"/api/v1/webhooks/{wid}/deliveries")).json()["total"] == 2
    missing = await env.http.get(f"/api/v1/webhooks/{wid}/deliveries/dlv_missing")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    bad = await env.http.post("/api/v1/webhooks", json={"name": "x", "prompt_template": "{{a"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "prompt_template"


async def test_received_events_are_durable_before_the_answer(env: Env) -> None:
    hook = await create(env, scheme="github")
    r = await post(env, hook, hook["secret"], body_for("github"))
    delivery_id = r.json()["delivery_id"]
    rows = await env.runner.store.query("SELECT data FROM events WHERE type = 'WebhookReceived'")
    assert any(delivery_id.encode() in bytes(row[0]) for row in rows)
    recs = [rec async for rec in env.runner.store.read_all()]
    assert any(isinstance(rec.event, WebhookReceived) for rec in recs)
    assert not any(isinstance(rec.event, WebhookRejected) for rec in recs)
    assert for_runner(env.runner) is for_runner(env.runner)


async def test_delivery_list_cuts_long_bodies_and_detail_shows_them_whole(env: Env) -> None:
    hook = await create(env, scheme="github")
    wid = hook["webhook_id"]
    body = json.dumps({"issue": {"title": "t"}, "text": "z" * 10_000}).encode()
    first = (await post(env, hook, hook["secret"], body)).json()
    (item,) = (await env.http.get(f"/api/v1/webhooks/{wid}/deliveries")).json()["items"]
    assert item["body_truncated"] is True and len(item["body"]) == 4096
    assert item["body_chars"] == len(body)
    detail = await env.http.get(f"/api/v1/webhooks/{wid}/deliveries/{first['delivery_id']}")
    assert detail.json()["body"] == body.decode() and detail.json()["body_truncated"] is False
    listing = (await env.http.get("/api/v1/webhooks?limit=1")).json()
    assert listing["total"] == 1 and listing["items"][0]["webhook_id"] == wid
    assert "secret" not in listing["items"][0] and listing["items"][0]["path"] == f"/hooks/{wid}"
