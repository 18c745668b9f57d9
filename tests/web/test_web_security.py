"""Sessions and web security: same-site redirects as browsers parse them, a login limiter that
slows an attacker without locking the owner out, HSTS behind an https public URL."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.app import Runner
from tests.web.support import PASSWORD, Client, csrf_of
from web.app import create_app
from web.auth import LoginLimiter, client_key, safe_next

pytestmark = pytest.mark.anyio

OFF_SITE = [
    "/\\evil.example.com",  # browsers read /\ as //
    "/\\/evil.example.com",
    "//evil.example.com",
    "/\t/evil.example.com",  # tabs and newlines are dropped by the URL parser
    "/\n/evil.example.com",
    "https://evil.example.com/",
    "javascript:alert(1)",
    "evil.example.com",
    "\\\\evil.example.com",
]


@pytest.mark.parametrize("target", OFF_SITE)
async def test_login_never_redirects_off_site(anon: Client, target: str) -> None:
    page = await anon.raw.get("/login", query_string={"next": target})
    token = csrf_of(await page.get_data(as_text=True))
    resp = await anon.raw.post(
        "/login",
        query_string={"next": target},
        form={"username": "admin", "password": PASSWORD, "csrf_token": token},
    )
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/", resp.headers["Location"]


async def test_login_keeps_a_same_site_next(anon: Client) -> None:
    page = await anon.raw.get("/login", query_string={"next": "/jobs?x=1"})
    token = csrf_of(await page.get_data(as_text=True))
    resp = await anon.raw.post("/login", query_string={"next": "/jobs?x=1"},
                               form={"username": "admin", "password": PASSWORD,
                                     "csrf_token": token})  # fmt: skip
    assert resp.headers["Location"] == "/jobs?x=1"


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(alphabet=st.sampled_from("/\\\t\n\r .:@?#%abcevil"), max_size=12))
def test_safe_next_only_returns_single_slash_paths(target: str) -> None:
    out = safe_next(target, "/")
    assert out == "/" or (
        out.startswith("/") and out[1:2] not in ("/", "\\") and "\\" not in out
        and not any(c in out for c in "\t\n\r")
    )  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limiter_slows_one_address() -> None:
    clock = Clock()
    lim = LoginLimiter(per_client=3, total=100, window=60, clock=clock)
    for _ in range(3):
        assert lim.retry_after("203.0.113.5") == 0
        lim.failed("203.0.113.5")
    assert lim.retry_after("203.0.113.5") > 0
    assert lim.retry_after("198.51.100.7") == 0  # the owner elsewhere is not affected
    clock.now += 61
    assert lim.retry_after("203.0.113.5") == 0


def test_a_spray_from_many_addresses_does_not_lock_the_owner_out() -> None:
    clock = Clock()
    lim = LoginLimiter(per_client=5, total=20, window=60, clock=clock)
    for i in range(40):  # an attacker rotating addresses
        lim.failed(f"203.0.113.{i}")
    assert lim.retry_after("203.0.113.1") > 0  # every attacking address now waits
    assert lim.retry_after("198.51.100.7") == 0  # the owner with a clean record may sign in
    lim.succeeded("198.51.100.7")
    assert lim.retry_after("198.51.100.7") == 0


def test_ipv6_addresses_count_per_64() -> None:
    lim = LoginLimiter(per_client=2, total=100, window=60, clock=Clock())
    lim.failed("2001:db8:1:2::1")
    lim.failed("2001:db8:1:2::ffff")  # same /64, another address
    assert lim.retry_after("2001:db8:1:2::abcd") > 0
    assert lim.retry_after("2001:db8:1:3::1") == 0
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"


async def test_the_login_page_answers_429_then_lets_the_owner_in(app: Any) -> None:
    attacker = Client(app.test_client())
    for _ in range(5):
        assert (await attacker.login("wrong")).status_code == 401
    assert (await attacker.login("wrong")).status_code == 429
    assert (await attacker.login()).status_code == 429  # even the right password waits here


async def test_hsts_and_secure_cookie_when_the_public_url_is_https(runner: Runner) -> None:
    runner.config = msgspec.structs.replace(runner.config, public_url="https://runner.example")
    quart = create_app(runner)
    async with quart.test_app() as test_app:
        c = Client(test_app.test_client())
        resp = await c.login()
        assert "Secure" in resp.headers["Set-Cookie"]
        page = await c.raw.get("/login")
        assert page.headers["Strict-Transport-Security"].startswith("max-age=")


async def _copy_of(c: Client, app: Any) -> Client:
    """Another browser holding a copy of ``c``'s session cookie (a stolen cookie)."""
    thief = Client(app.test_client())
    for cookie in c.raw.cookie_jar:
        thief.raw.cookie_jar.set_cookie(cookie)
    thief.csrf = c.csrf
    return thief


async def test_a_copied_cookie_stops_working_after_logout(app: Any, runner: Runner) -> None:
    owner = Client(app.test_client())
    assert (await owner.login()).status_code == 302
    thief = await _copy_of(owner, app)
    assert (await thief.get("/api/v1/jobs")).status_code == 200
    out = await owner.form("/logout", {})
    assert out.status_code == 302
    assert (await thief.get("/api/v1/jobs")).status_code == 401
    rows = await runner.store.query("SELECT doc FROM v_sessions")
    assert (
        len(rows) == 1 and b'"reason":"logout"' in bytes(rows[0][0], "utf-8")
        if isinstance(rows[0][0], str)
        else b'"reason":"logout"' in bytes(rows[0][0])
    )


async def test_password_change_and_sign_out_everywhere_end_sessions(
    app: Any, runner: Runner
) -> None:
    from runner.access import Access

    a, b = Client(app.test_client()), Client(app.test_client())
    await a.login()
    await b.login()
    await Access(runner.store).change_password(PASSWORD)  # same text, new hash: a new version
    for c in (a, b):
        assert (await c.get("/api/v1/jobs")).status_code == 401
    await a.login()
    await b.login()
    resp = await a.form("/logout", {"everywhere": "1"})
    assert resp.status_code == 302
    assert (await b.get("/api/v1/jobs")).status_code == 401
    rows = await runner.store.query("SELECT COUNT(*) FROM v_sessions WHERE live = 1")
    assert rows[0][0] == 0


async def test_sessions_survive_a_restart_and_hold_no_secret(tmp_path: Any) -> None:
    from tests.helpers import open_runner

    data = tmp_path / "restart"
    async with open_runner(data, admin_password=PASSWORD) as r1:
        quart = create_app(r1)
        async with quart.test_app() as t1:
            c = Client(t1.test_client())
            await c.login()
            cookies = list(c.raw.cookie_jar)
            sid_blob = b"".join(bytes(str(x.value), "utf-8") for x in cookies)
    async with open_runner(data, admin_password=PASSWORD) as r2:
        quart = create_app(r2)
        async with quart.test_app() as t2:
            again = Client(t2.test_client())
            for cookie in cookies:
                again.raw.cookie_jar.set_cookie(cookie)
            assert (await again.get("/api/v1/jobs")).status_code == 200
        rows = await r2.store.query("SELECT data FROM events")
        blob = b"".join(bytes(x[0]) if not isinstance(x[0], str) else x[0].encode() for x in rows)
        assert sid_blob and sid_blob not in blob
