"""The ingress inside the real app factory: public (no session, no CSRF), while the webhook API
stays behind authentication; the app's own body limit and ours agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.commands.webhooks import for_runner
from runner.webhooks.verify import sign_github
from tests.helpers import open_runner
from web.app import create_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_hooks_are_public_and_the_api_is_not(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        app = create_app(runner)
        client = app.test_client()
        hook, secret, _ = await for_runner(runner).create(
            {"name": "h", "prompt_template": "{{payload}}", "scheme": "github"}
        )
        body = b'{"a": 1}'
        headers = {"X-Hub-Signature-256": sign_github(secret, body), "X-GitHub-Delivery": "1"}
        resp = await client.post(f"/hooks/{hook.webhook_id}", data=body, headers=headers)
        assert resp.status_code == 202, await resp.get_data(as_text=True)
        again = await client.post(f"/hooks/{hook.webhook_id}", data=body, headers=headers)
        assert again.status_code == 200
        assert (await again.get_json())["delivery_id"] == (await resp.get_json())["delivery_id"]
        forged = await client.post(f"/hooks/{hook.webhook_id}", data=body, headers={})
        assert forged.status_code == 401
        big = b"x" * ((1 << 20) + 1)
        too_big = await client.post(f"/hooks/{hook.webhook_id}", data=big, headers=headers)
        assert too_big.status_code == 413
        assert (await client.post("/hooks/wh_missing", data=body)).status_code == 404
        for method, path in (
            ("GET", "/api/v1/webhooks"),
            ("POST", "/api/v1/webhooks"),
            ("GET", f"/api/v1/webhooks/{hook.webhook_id}/deliveries"),
            ("POST", f"/api/v1/webhooks/{hook.webhook_id}/rotate-secret"),
        ):
            denied = await client.open(path, method=method, json={})
            assert denied.status_code == 401, (method, path)
            assert secret not in await denied.get_data(as_text=True)
