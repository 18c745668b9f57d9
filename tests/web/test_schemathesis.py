"""schemathesis (every check) against the live service's OpenAPI document: zero failures.

A real Hypercorn serves the API on loopback from a thread; the schemathesis CLI runs the
examples, coverage, fuzzing and stateful phases with a fixed seed and bounded examples, signed in
with an API token. Operations whose bodies have checks JSON Schema cannot express (the document
marks them ``x-semantic-checks``) may also answer 422 to schema-valid input; nothing else is
relaxed. A 413 counts as a rejection of schema-violating input.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from runner.access import Access
from tests.helpers import open_runner
from tests.web.support import PASSWORD
from web.openapi import SEMANTIC, openapi_document

pytestmark = pytest.mark.slow
EXAMPLES = 15
SEED = 20261128


class LiveService:
    """``run_web`` on 127.0.0.1 in its own thread and event loop, with an API token."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.base = ""
        self.token = ""
        self.token_id = ""
        self._ready = threading.Event()
        self._stop: anyio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        try:
            anyio.run(self._serve)
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        from web.server import run_web

        self._stop = anyio.Event()
        self._loop = asyncio.get_running_loop()
        async with open_runner(
            self.data_dir, admin_password=PASSWORD, host="127.0.0.1", port=0
        ) as runner:
            tok = await Access(runner.store).create_token("schemathesis")
            self.token, self.token_id = tok.token, tok.token_id
            async with anyio.create_task_group() as tg:
                host, port = await tg.start(run_web, runner, None)
                self.base = f"http://{host}:{port}"
                self._ready.set()
                await self._stop.wait()
                tg.cancel_scope.cancel()

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(60), "the service did not start"
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveService]:
    service = LiveService(tmp_path / "data")
    service.start()
    try:
        yield service
    finally:
        service.stop()


def config_toml(doc: dict[str, Any]) -> str:
    semantic = sorted(
        op["operationId"]
        for ops in doc["paths"].values()
        for op in ops.values()
        if op.get(SEMANTIC)
    )
    ids = ", ".join(f'"{i}"' for i in semantic)
    return f"""
[cache]
enabled = false

[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]

[[operations]]
include-operation-id = [{ids}]
checks.positive_data_acceptance.expected-statuses = ["2XX", 401, 403, 404, 409, 422, 429]
"""


def test_the_api_matches_its_document(live: LiveService, tmp_path: Path) -> None:
    cfg = tmp_path / "schemathesis.toml"
    cfg.write_text(config_toml(openapi_document()))
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.web.schemathesis_hooks",
        "RUNNER_FUZZ_TOKEN_ID": live.token_id,
        "PYTHONPATH": str(Path(__file__).parents[2]),
    }
    st = Path(sys.executable).with_name("st")
    cmd = [str(st), "--config-file", str(cfg), "run", f"{live.base}/api/v1/openapi.json",
           "--checks", "all", "--max-examples", str(EXAMPLES), "--seed", str(SEED),
           "--header", f"Authorization: Bearer {live.token}", "--no-color",
           "--suppress-health-check", "all"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    summary = proc.stdout[-6000:]
    print(summary)
    assert proc.returncode == 0, summary
    assert "52/52" in proc.stdout or "Tested:" in proc.stdout
