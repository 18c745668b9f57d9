"""Webhook dashboard pages: the secret shown once, escaping, CSRF, paging, replay."""

from __future__ import annotations

import html as htmllib
import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from actors.webhook import WebhookActor
from runner.app import Runner
from runner.commands.webhooks import for_runner
from tests.web.support import Client

pytestmark = pytest.mark.anyio
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
SECRET_RE = re.compile(r'id="hook-secret" value="([^"]+)"')
URL_RE = re.compile(r'id="hook-url" value="([^"]+)"')


async def text(resp: Any) -> str:
    body: str = await resp.get_data(as_text=True)
    return body


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.bad: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {k.lower() for k, _ in attrs}
        if tag == "script" and "src" not in names:
            self.bad.append("inline <script>")
        if tag == "img":
            self.bad.append("<img>")
        self.bad += [f"{tag} {k}" for k in names if k.startswith("on")]


def assert_safe(page: str) -> None:
    """As a browser parses it: no inline script, no injected element, no event handler."""
    parser = _Tags()
    parser.feed(page)
    assert parser.bad == []
    assert XSS not in page


async def create(client: Client, **fields: str) -> tuple[str, str, str]:
    """Create through the form; returns (webhook id, secret, URL) read from the one-time page."""
    data = {"name": "deploys", "prompt_template": "Deployed {{payload.ref}}", **fields}
    resp = await client.form("/webhooks/new", data)
    page = await text(resp)
    assert resp.status_code == 200, page
    secret = htmllib.unescape(SECRET_RE.search(page).group(1))  # type: ignore[union-attr]
    url = htmllib.unescape(URL_RE.search(page).group(1))  # type: ignore[union-attr]
    hook_id = re.search(r"/hooks/(wh_[0-9a-f]+)", url).group(1)  # type: ignore[union-attr]
    return hook_id, secret, url


async def test_pages_need_sign_in_and_render(anon: Client, client: Client) -> None:
    for path in ("/webhooks", "/webhooks/new"):
        resp = await anon.get(path)
        assert resp.status_code == 302 and resp.headers["Location"].startswith("/login")
    empty = await text(await client.get("/webhooks"))
    assert "No webhooks yet" in empty and 'href="/webhooks"' in empty  # nav link
    form = await text(await client.get("/webhooks/new"))
    assert 'name="csrf_token"' in form and 'id="template-check"' in form
    assert '<script src="/static/webhooks.js' in form
    assert_safe(form)
    hook_id, _, _ = await create(client)
    for path in (
        "/webhooks",
        f"/webhooks/{hook_id}",
        f"/webhooks/{hook_id}/edit",
        f"/webhooks/{hook_id}/delete",
    ):
        resp = await client.get(path)
        page = await text(resp)
        assert resp.status_code == 200, (path, page)
        assert "deploys" in page
        assert_safe(page)
    assert (await client.get("/webhooks/wh_000000000000")).status_code == 404
    js = await client.get("/static/webhooks.js")
    assert js.status_code == 200 and "template-check" in await text(js)


async def test_create_shows_the_secret_once_and_never_again(client: Client) -> None:
    hook_id, secret, url = await create(client)
    assert len(secret) >= 22 and url.endswith(f"/hooks/{hook_id}/{secret}")
    for path in ("/webhooks", f"/webhooks/{hook_id}", f"/webhooks/{hook_id}/edit"):
        page = await text(await client.get(path))
        assert secret not in page, path
    detail = await text(await client.get(f"/webhooks/{hook_id}"))
    assert f"****{secret[-4:]}" in detail  # masked, as a hint
    # the URL shown once works
    path = url.split("://", 1)[1].split("/", 1)[1]
    delivered = await client.raw.post("/" + path, json={"ref": "main"})
    assert delivered.status_code == 202

    pasted = "pasted-from-github-0123456789"
    resp = await client.form(
        "/webhooks/new",
        {"name": "gh", "prompt_template": "{{payload}}", "scheme": "github", "secret": pasted},
    )
    page = await text(resp)
    assert resp.status_code == 200 and "Copy it now" in page and pasted in page
    assert resp.headers["Cache-Control"] == "no-store"
    gh_id = re.search(r"/hooks/(wh_[0-9a-f]+)", page).group(1)  # type: ignore[union-attr]
    assert pasted not in await text(await client.get(f"/webhooks/{gh_id}"))


async def test_forms_need_csrf_and_errors_sit_next_to_the_field(client: Client) -> None:
    no_csrf = await client.raw.post(
        "/webhooks/new", form={"name": "x", "prompt_template": "{{payload}}"}
    )
    assert no_csrf.status_code == 403
    pasted = "pasted-secret-never-echoed-0123"
    resp = await client.form(
        "/webhooks/new",
        {"name": "x", "prompt_template": "Hi {{payload", "scheme": "github", "secret": pasted},
    )
    page = await text(resp)
    assert resp.status_code == 422
    assert 'id="err-prompt_template"' in page and pasted not in page
    assert "Hi {{payload" in page  # the template is kept for fixing
    resp = await client.form(
        "/webhooks/new", {"name": "x", "prompt_template": "{{payload}}", "burst": "0"}
    )
    assert resp.status_code == 422 and 'id="err-burst"' in await text(resp)

    check = await client.api("POST", "/webhooks/check-template", {"template": "{{payload.a"})
    assert check.status_code == 200
    verdict = await check.get_json()
    assert verdict["ok"] is False and verdict["problems"]
    good = await client.api("POST", "/webhooks/check-template", {"template": "{{payload.a}}"})
    assert (await good.get_json()) == {"ok": True, "problems": []}
    forged = await client.raw.post("/webhooks/check-template", json={"template": "x"})
    assert forged.status_code == 403


async def test_xss_in_a_name_and_in_a_delivery_is_escaped(client: Client, runner: Runner) -> None:
    hook_id, secret, _ = await create(client, name=XSS, description=XSS)
    for path in ("/webhooks", f"/webhooks/{hook_id}", f"/webhooks/{hook_id}/edit"):
        page = await text(await client.get(path))
        assert_safe(page)
        assert "&lt;script&gt;alert(" in page, path
    hook = f"/hooks/{hook_id}/{secret}"
    as_json = await client.raw.post(
        hook, json={"title": XSS, "{{payload}}": "</pre>"}, headers={"X-Evil": XSS}
    )
    as_text = await client.raw.post(
        hook, data=("</pre>" + XSS).encode(), headers={"Content-Type": "text/plain"}
    )
    assert as_json.status_code == as_text.status_code == 202
    for resp in (as_json, as_text):
        delivery_id = (await resp.get_json())["delivery_id"]
        page = await text(await client.get(f"/webhooks/{hook_id}/deliveries/{delivery_id}"))
        assert_safe(page)
        assert "&lt;script&gt;alert(" in page and "&lt;/pre&gt;" in page
    raw_page = await text(await client.get(f"/webhooks/{hook_id}/deliveries/{delivery_id}"))
    assert "not JSON" in raw_page  # the last one: the text/plain body, shown as received
    first = (await as_json.get_json())["delivery_id"]
    pretty = await text(await client.get(f"/webhooks/{hook_id}/deliveries/{first}"))
    assert "{\n  &#34;title&#34;: " in pretty  # indented JSON, escaped
    assert "<code>x-evil</code>" in pretty
    listed = await text(await client.get(f"/webhooks/{hook_id}"))
    assert_safe(listed)
    assert secret not in listed and secret not in pretty


async def test_enable_disable_rotate_and_delete(client: Client, runner: Runner) -> None:
    hook_id, secret, _ = await create(client)
    old_hook = f"/hooks/{hook_id}/{secret}"
    resp = await client.form(f"/webhooks/{hook_id}/disable", {})
    assert resp.status_code == 302
    assert not (await runner.queries.webhook(hook_id)).enabled
    for_runner(runner).invalidate()
    assert (await client.raw.post(old_hook, json={})).status_code == 404
    await client.form(f"/webhooks/{hook_id}/enable", {})
    assert (await runner.queries.webhook(hook_id)).enabled

    rotated = await client.form(f"/webhooks/{hook_id}/rotate-secret", {"grace_seconds": "0"})
    page = await text(rotated)
    assert rotated.status_code == 200 and "Copy it now" in page
    new_secret = htmllib.unescape(SECRET_RE.search(page).group(1))  # type: ignore[union-attr]
    assert new_secret != secret
    assert (await client.raw.post(old_hook, json={})).status_code == 401
    assert (await client.raw.post(f"/hooks/{hook_id}/{new_secret}", json={})).status_code == 202
    detail = await text(await client.get(f"/webhooks/{hook_id}"))
    assert new_secret not in detail and secret not in detail
    assert "Rejections (1)" in detail and "Deliveries (1)" in detail
    bad = await client.form(f"/webhooks/{hook_id}/rotate-secret", {"grace_seconds": "-5"})
    assert bad.status_code == 422 and "grace_seconds" in await text(bad)

    confirm = await text(await client.get(f"/webhooks/{hook_id}/delete"))
    assert 'id="confirm-delete"' in confirm
    gone = await client.form(f"/webhooks/{hook_id}/delete", {})
    assert gone.status_code == 302 and gone.headers["Location"] == "/webhooks"
    assert (await client.get(f"/webhooks/{hook_id}")).status_code == 404


async def test_edit_keeps_the_secret_and_changes_settings(client: Client, runner: Runner) -> None:
    hook_id, _, _ = await create(client)
    before = await runner.queries.webhook(hook_id)
    resp = await client.form(
        f"/webhooks/{hook_id}/edit",
        {"name": "renamed", "prompt_template": "New {{payload.x}}", "rate_per_minute": "5",
         "burst": "2", "tools": "Read"},
    )  # fmt: skip
    assert resp.status_code == 302, await text(resp)
    after = await runner.queries.webhook(hook_id)
    assert (after.name, after.prompt_template, after.rate_per_minute, after.burst) == (
        "renamed", "New {{payload.x}}", 5.0, 2,
    )  # fmt: skip
    assert after.spec.tools == ("Read",) and after.secret == before.secret


async def test_deliveries_page_and_replay(client: Client, runner: Runner) -> None:
    hook_id, secret, _ = await create(client, burst="50")
    ids = []
    for i in range(23):
        resp = await client.raw.post(f"/hooks/{hook_id}/{secret}", json={"n": i})
        ids.append((await resp.get_json())["delivery_id"])
    assert await WebhookActor(runner.store).catch_up()  # the service would request the runs
    first = await text(await client.get(f"/webhooks/{hook_id}"))
    assert "Deliveries (23)" in first and 'id="older-deliveries"' in first
    assert first.count("data-delivery=") == 20
    assert "/runs/run_" in first  # each delivery links to its run
    older = await text(await client.get(f"/webhooks/{hook_id}?offset=20"))
    assert older.count("data-delivery=") == 3 and "← Newer" in older

    original = ids[0]
    page = await text(await client.get(f"/webhooks/{hook_id}/deliveries/{original}"))
    assert "verified: secret token in the URL" in page and 'id="replay"' in page
    assert "/runs/run_" in page and 'id="replay-of"' not in page
    no_csrf = await client.raw.post(f"/webhooks/{hook_id}/deliveries/{original}/replay")
    assert no_csrf.status_code == 403
    resp = await client.form(f"/webhooks/{hook_id}/deliveries/{original}/replay", {})
    assert resp.status_code == 302
    location = resp.headers["Location"]
    new_id = re.search(r"/deliveries/(dlv_[0-9a-f]+)\?replayed=1$", location).group(1)  # type: ignore[union-attr]
    assert new_id not in ids
    new = await runner.queries.delivery(new_id)
    old = await runner.queries.delivery(original)
    assert new.replay_of == original and new.run_id != old.run_id and new.body == old.body
    shown = await text(await client.get(location))
    assert 'id="replayed"' in shown and 'id="replay-of"' in shown and original in shown
    assert "replay (by admin)" in shown
    listing = await text(await client.get(f"/webhooks/{hook_id}"))
    assert "Deliveries (24)" in listing and f"replay of <code>{original}</code>" in listing
    wrong = await client.get(f"/webhooks/{hook_id}/deliveries/dlv_nope")
    assert wrong.status_code == 404
    assert json.loads(json.dumps(new.headers)) == old.headers
