"""No 500 from input: hypothesis over nesting depth, encodings, number ranges, shapes where a
string is expected, control characters and sizes, against the real app (API, login, webhooks).

The app runs once per module in a blocking portal; every example is one request through it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.access import Access
from runner.commands.webhooks import for_runner
from runner.errors import InvalidInput
from runner.jobs_input import build_spec, check_display_name
from tests.helpers import open_runner
from tests.web.support import PASSWORD
from web.app import create_app

FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
CONTROLS = st.sampled_from([chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))] +
                           ["\u2028", "\u202e", "\u2066"])  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                max_size=3),
    max_leaves=12,
)  # fmt: skip


class Live:
    """A runner and the Quart test client in a portal's event loop, signed in with a token."""

    def __init__(self, portal: anyio.from_thread.BlockingPortal, client: Any, token: str,
                 hook_path: str) -> None:  # fmt: skip
        self.portal = portal
        self.client = client
        self.auth = {"Authorization": f"Bearer {token}"}
        self.hook_path = hook_path

    def request(self, method: str, path: str, **kw: Any) -> tuple[int, bytes]:
        async def go() -> tuple[int, bytes]:
            resp = await self.client.open(path, method=method, **kw)
            return resp.status_code, await resp.get_data()

        return self.portal.call(go)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    data = Path(tmp_path_factory.mktemp("hostile")) / "data"
    with anyio.from_thread.start_blocking_portal() as portal:
        holder: dict[str, Any] = {}
        ready = anyio.Event()
        done = anyio.Event()

        async def serve() -> None:
            async with open_runner(data, admin_password=PASSWORD) as runner:
                tok = await Access(runner.store).create_token("fuzz")
                hook, _, _ = await for_runner(runner).create(
                    {"name": "h", "prompt_template": "p", "scheme": "github"}
                )
                app = create_app(runner)
                async with app.test_app() as test_app:
                    holder["live"] = Live(portal, test_app.test_client(), tok.token,
                                          f"/hooks/{hook.webhook_id}")  # fmt: skip
                    ready.set()
                    await done.wait()

        future = portal.start_task_soon(serve)
        portal.call(ready.wait)
        try:
            yield holder["live"]
        finally:
            portal.call(done.set)
            future.result(30)


def _ok(status: int, body: bytes) -> None:
    assert status < 500, body[:300]
    if status >= 400 and body.startswith(b"{"):
        err = json.loads(body).get("error")
        assert err, body[:300]


@FUZZ
@given(depth=st.integers(1, 20_000), kind=st.sampled_from(["[", '{"a":']))
def test_deeply_nested_json_is_refused_not_a_crash(live: Live, depth: int, kind: str) -> None:
    close = "]" if kind == "[" else "}"
    body = (kind * depth + "1" + close * depth).encode()
    status, out = live.request("POST", "/api/v1/jobs", data=body, headers={
        **live.auth, "Content-Type": "application/json"})  # fmt: skip
    _ok(status, out)
    assert status == 422


@FUZZ
@given(body=st.binary(min_size=1, max_size=300))
def test_bodies_that_are_not_utf8_json_are_4xx(live: Live, body: bytes) -> None:
    for path in ("/api/v1/jobs", "/api/v1/tokens", "/api/v1/webhooks", "/api/v1/settings"):
        method = "PATCH" if path.endswith("settings") else "POST"
        status, out = live.request(method, path, data=body, headers={
            **live.auth, "Content-Type": "application/json"})  # fmt: skip
        _ok(status, out)
    status, out = live.request("POST", live.hook_path, data=body,
                               headers={"Content-Type": "application/json"})  # fmt: skip
    assert status < 500


@FUZZ
@given(number=st.integers(-(2**80), 2**80) | st.sampled_from([2**63 - 1, 2**63, -(2**63) - 1]))
def test_numbers_of_any_size_in_paging_are_4xx_or_served(live: Live, number: int) -> None:
    for query in ("offset", "after", "limit"):
        for path in ("/api/v1/events", "/api/v1/jobs", "/api/v1/runs", "/api/v1/webhooks",
                     "/api/v1/runs/run_x/output", "/api/v1/jobs/job_x/events"):  # fmt: skip
            status, out = live.request("GET", f"{path}?{query}={number}", headers=live.auth)
            _ok(status, out)


@FUZZ
@given(value=JSON.filter(lambda v: not isinstance(v, str)), field=st.sampled_from(
    ["name", "prompt", "cron", "timezone", "model"]))  # fmt: skip
def test_shapes_where_a_string_is_expected_are_422(live: Live, value: Any, field: str) -> None:
    body = {"name": "n", "prompt": "p", field: value}
    if (field == "cron" and value is None) or (field == "model" and value is None):
        return  # null is allowed there
    status, out = live.request("POST", "/api/v1/jobs", json=body, headers=live.auth)
    _ok(status, out)
    assert status == 422 and json.loads(out)["error"]["field"].startswith(field)


@FUZZ
@given(prefix=st.text(max_size=8), control=CONTROLS, suffix=st.text(max_size=8))
def test_control_characters_in_names_are_refused(
    live: Live, prefix: str, control: str, suffix: str
) -> None:
    name = f"a{prefix}{control}{suffix}"
    if name.strip() != name and not (set(name.strip()) & set(CONTROLS_SET)):
        return  # only surrounding whitespace, which is stripped
    for path, body in (("/api/v1/jobs", {"name": name, "prompt": "p"}),
                       ("/api/v1/tokens", {"name": name})):  # fmt: skip
        status, out = live.request("POST", path, json=body, headers=live.auth)
        _ok(status, out)
        assert status == 422, (path, repr(name))
    with pytest.raises(InvalidInput):  # forms and MCP share the runner's validation
        build_spec({"name": name, "prompt": "p"})


CONTROLS_SET = {chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))} | {"\u2028", "\u202e",
                                                                       "\u2066"}  # fmt: skip


def test_a_printable_name_is_kept() -> None:
    assert check_display_name("Daily report — été 🌞") == "Daily report — été 🌞"


@FUZZ
@given(headers=st.dictionaries(
    st.sampled_from(["X-Hub-Signature-256", "X-GitHub-Delivery", "Content-Type",
                     "webhook-id", "Content-Length"]),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80), max_size=4),
    body=st.binary(max_size=2000))  # fmt: skip
def test_webhook_ingress_never_answers_500(
    live: Live, headers: dict[str, str], body: bytes
) -> None:
    headers.pop("Content-Length", None)
    status, out = live.request("POST", live.hook_path, data=body, headers=headers)
    assert status in (401, 404, 413, 415, 422, 429), (status, out[:200])


@FUZZ
@given(nxt=st.text(max_size=40))
def test_login_next_and_form_fields_never_500(live: Live, nxt: str) -> None:
    status, _ = live.request("GET", "/login", query_string={"next": nxt})
    assert status < 500
