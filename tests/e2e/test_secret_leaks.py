"""Secret-leak sweep: after a full tool-server journey (MCP, CLI, API, dashboard, a real run),
search every API response, page, MCP answer, CLI output, log line, event row, view row and file
of the data directory for every credential value — and for any 12-character piece of one (a
mask may show at most the last 4 characters). Zero hits."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from runner.secrets import KEY_FILE_NAME
from tests.e2e.servers_journey import PASSWORD, Journey, make_secrets, run_journey

pytestmark = [pytest.mark.anyio, pytest.mark.e2e, pytest.mark.slow]
WINDOW = 12


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def pieces(value: str) -> set[str]:
    """The value and every WINDOW-long piece of it (its last 4 characters alone are allowed)."""
    return {value} | {value[i : i + WINDOW] for i in range(len(value) - WINDOW + 1)}


def corpus(j: Journey) -> dict[str, str]:
    """Everything someone could read after the journey, by where it came from."""
    out: dict[str, str] = {}
    for where, body in j.responses.items():
        out[f"http {where}"] = body
    for key, value in j.mcp_results.items():
        out[f"mcp {key}"] = json.dumps(value, default=str)
    for key, text in j.mcp_errors.items():
        out[f"mcp error {key}"] = text
    for i, text in enumerate(j.cli_output):
        out[f"cli output {i}"] = text
    for name, text in j.logs.items():
        for n, line in enumerate(text.splitlines()):
            out[f"log {name}:{n + 1}"] = line
    with sqlite3.connect(j.data / "runner.db", timeout=10) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for n, row in enumerate(db.execute(f'SELECT * FROM "{table}"')):
                out[f"row {table}#{n}"] = " ".join(
                    v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row
                )
    for path in j.data.rglob("*"):
        if path.is_file() and path.name != KEY_FILE_NAME:
            out[f"file {path.relative_to(j.data)}"] = path.read_bytes().decode("latin-1")
    return out


async def test_no_secret_anywhere_after_a_full_journey(tmp_path: Path) -> None:
    values = make_secrets()
    j = await run_journey(tmp_path, values)
    assert j.mcp_results["wait"]["run"]["state"] == "succeeded", j.mcp_results["wait"]
    everything = corpus(j)
    # the sweep saw a real journey: pages, API answers, event rows, log lines, files
    kinds = {k.split(" ", 1)[0] for k in everything}
    assert {"http", "mcp", "cli", "log", "row", "file"} <= kinds, kinds
    assert sum(k.startswith("http GET /servers") for k in everything) >= 2
    assert any(k.startswith("row events#") for k in everything)
    assert any("[redacted]" in v for k, v in everything.items() if k.startswith("row events"))
    masked = "****" + values["FB_PAGE_TOKEN"][-4:]
    assert any(masked in v for k, v in everything.items() if k.startswith("http GET /servers/"))
    assert any(masked in v for k, v in everything.items() if k.startswith("http GET /api/v1/"))
    assert sum(k.startswith("http ") for k in everything) >= 15, sorted(everything)[:40]

    key_lines = [
        line.strip()
        for line in (j.data / KEY_FILE_NAME).read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    needles: dict[str, set[str]] = {name: pieces(v) for name, v in values.items()}
    needles["secret key"] = set(key_lines)
    needles["admin password"] = {PASSWORD}
    hits = [
        (name, where)
        for name, found in needles.items()
        for where, text in everything.items()
        if any(p in text for p in found)
    ]
    assert hits == [], hits[:20]
