"""``runner webhooks ...`` as a user drives it: the secret printed once, deliveries, replay."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio

from runner.commands.webhooks import for_runner
from runner.webhooks.ingest import WebhookIngest
from runner.webhooks.verify import sign_github
from tests.helpers import open_runner

RUNNER = [sys.executable, "-m", "runner.cli"]
GITHUB_SECRET = "pasted-from-github-0123456789"


def cli(data: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNNER_DATA_DIR": str(data)}
    env.pop("RUNNER_SECRET_KEY", None)
    return subprocess.run(
        [*RUNNER, *args], capture_output=True, text=True, env=env, timeout=60, input=stdin or ""
    )


def ok(data: Path, *args: str, stdin: str | None = None) -> Any:
    out = cli(data, *args, stdin=stdin)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    return json.loads(out.stdout)


def test_lifecycle_shows_the_secret_only_when_created_and_rotated(tmp_path: Path) -> None:
    created = ok(
        tmp_path, "webhooks", "create", "--name", "deploys",
        "--prompt-template", "Deployed {{payload.ref | default: \"main\"}}",
        "--rate-per-minute", "30", "--burst", "5",
    )  # fmt: skip
    hook_id, secret = created["webhook_id"], created["secret"]
    assert created["scheme"] == "url_token" and len(secret) >= 22
    assert created["url"].endswith(f"/hooks/{hook_id}/{secret}")
    assert "shown once" in created["secret_notice"]
    assert (created["rate_per_minute"], created["burst"]) == (30.0, 5)

    listed = ok(tmp_path, "webhooks", "list")
    assert [(h["webhook_id"], h["name"], h["deliveries"]) for h in listed] == [
        (hook_id, "deploys", 0)
    ]
    shown_raw = cli(tmp_path, "webhooks", "show", "deploys")  # by exact name
    assert shown_raw.returncode == 0 and secret not in shown_raw.stdout
    shown = json.loads(shown_raw.stdout)
    assert shown["webhook_id"] == hook_id and "secret" not in shown
    assert shown["secret_hint"] == "****" + secret[-4:]

    updated = ok(tmp_path, "webhooks", "update", hook_id, "--name", "prod deploys", "--burst", "7")
    assert (updated["name"], updated["burst"], updated["rate_per_minute"]) == (
        "prod deploys", 7, 30.0,
    )  # fmt: skip
    assert not ok(tmp_path, "webhooks", "disable", hook_id)["enabled"]
    assert ok(tmp_path, "webhooks", "enable", "prod deploys")["enabled"]

    rotated = ok(tmp_path, "webhooks", "rotate-secret", hook_id, "--grace-seconds", "0")
    assert rotated["secret"] not in (secret, "") and rotated["url"].endswith(rotated["secret"])
    assert rotated["previous_secret_valid_until"] is not None
    again = cli(tmp_path, "webhooks", "show", hook_id).stdout
    assert secret not in again and rotated["secret"] not in again
    history = cli(tmp_path, "history", f"webhook-{hook_id}")
    assert history.returncode == 0 and "WebhookSecretRotated" in history.stdout
    assert secret not in history.stdout and rotated["secret"] not in history.stdout

    assert ok(tmp_path, "webhooks", "delete", hook_id) == {
        "deleted": hook_id,
        "name": "prod deploys",
    }
    gone = cli(tmp_path, "webhooks", "show", hook_id)
    assert gone.returncode == 1 and "no webhook" in gone.stderr
    assert ok(tmp_path, "webhooks", "list") == []


def test_a_pasted_secret_is_read_from_stdin_and_checked(tmp_path: Path) -> None:
    created = ok(
        tmp_path, "webhooks", "create", "--name", "gh", "--scheme", "github",
        "--prompt-template", "{{payload}}", "--secret-stdin", stdin=GITHUB_SECRET + "\n",
    )  # fmt: skip
    assert created["secret"] == GITHUB_SECRET
    assert created["url"].endswith(f"/hooks/{created['webhook_id']}")
    short = cli(
        tmp_path, "webhooks", "create", "--name", "gh2", "--scheme", "github",
        "--prompt-template", "{{payload}}", "--secret-stdin", stdin="short\n",
    )  # fmt: skip
    assert short.returncode == 1 and "error (secret)" in short.stderr
    assert "Traceback" not in short.stderr
    rotated = ok(
        tmp_path, "webhooks", "rotate-secret", "gh", "--secret-stdin",
        stdin="another-pasted-secret-9876\n",
    )  # fmt: skip
    assert rotated["secret"] == "another-pasted-secret-9876"


def test_bad_input_names_the_field(tmp_path: Path) -> None:
    out = cli(tmp_path, "webhooks", "create", "--name", "x", "--prompt-template", "{{payload")
    assert out.returncode == 1 and "error (prompt_template)" in out.stderr
    out = cli(
        tmp_path, "webhooks", "create", "--name", "x", "--prompt-template", "{{payload}}",
        "--burst", "0",
    )  # fmt: skip
    assert out.returncode == 1 and "error (burst)" in out.stderr
    template = tmp_path / "template.txt"
    template.write_text("Issue: {{payload.issue.title}}\n", encoding="utf-8")
    made = ok(
        tmp_path, "webhooks", "create", "--name", "x", "--prompt-template-file", str(template)
    )
    assert made["prompt_template"] == "Issue: {{payload.issue.title}}\n"
    dup = cli(tmp_path, "webhooks", "create", "--name", "x", "--prompt-template", "{{payload}}")
    assert dup.returncode == 1 and "error (name)" in dup.stderr
    out = cli(tmp_path, "webhooks", "replay", "dlv_missing")
    assert out.returncode == 1 and "no webhook delivery" in out.stderr


async def _deliver(data: Path, hook_id: str, body: bytes, delivery: str, forged: bool) -> None:
    async with open_runner(data) as runner:
        ingest = WebhookIngest(for_runner(runner))
        signature = sign_github("x" * 20 if forged else GITHUB_SECRET, body)
        headers = {"X-Hub-Signature-256": signature, "X-GitHub-Delivery": delivery}
        result = await ingest.handle(hook_id, body, headers, source="127.0.0.1")
        assert result.status == (401 if forged else 202), result.body


def test_deliveries_rejections_and_replay(tmp_path: Path) -> None:
    hook_id = ok(
        tmp_path, "webhooks", "create", "--name", "gh", "--scheme", "github",
        "--prompt-template", "{{payload.action}}", "--secret-stdin", stdin=GITHUB_SECRET,
    )["webhook_id"]  # fmt: skip
    body = json.dumps({"action": "opened", "pad": "y" * 5000}).encode()
    anyio.run(_deliver, tmp_path, hook_id, body, "gh-1", False)
    anyio.run(_deliver, tmp_path, hook_id, b"{}", "gh-2", True)

    listing = ok(tmp_path, "webhooks", "deliveries", hook_id)
    assert listing["total"] == 1 and not listing["has_more"]
    (first,) = listing["items"]
    assert first["verification"] == "github:ok" and first["replay_of"] is None
    assert first["body_truncated"] and first["body_chars"] == len(body)
    assert first["headers"]["x-hub-signature-256"].startswith("****")  # masked
    assert first["headers"]["x-github-delivery"] == "gh-1"
    assert GITHUB_SECRET not in json.dumps(listing)
    assert first["run_state"] == "pending"  # no `runner serve` here to request the run
    whole = ok(tmp_path, "webhooks", "deliveries", "gh", first["delivery_id"])
    assert whole["body"] == body.decode() and not whole["body_truncated"]

    rejections = ok(tmp_path, "webhooks", "rejections", hook_id)
    assert rejections["total"] == 1 and rejections["items"][0]["status"] == 401

    replayed = ok(tmp_path, "webhooks", "replay", first["delivery_id"])
    assert replayed["replay_of"] == first["delivery_id"]
    assert replayed["delivery_id"] != first["delivery_id"]
    assert replayed["run_id"] != first["run_id"]
    listing = ok(tmp_path, "webhooks", "deliveries", hook_id, "--limit", "1")
    assert listing["total"] == 2 and listing["has_more"] and len(listing["items"]) == 1
    newest = ok(tmp_path, "webhooks", "deliveries", hook_id, replayed["delivery_id"])
    assert newest["replay_of"] == first["delivery_id"]
    assert newest["verification"] == "replay:cli" and newest["body"] == body.decode()
    shown = ok(tmp_path, "webhooks", "show", hook_id)
    assert (shown["deliveries"], shown["rejections"]) == (2, 1)
    wrong = cli(tmp_path, "webhooks", "deliveries", hook_id, "dlv_nope")
    assert wrong.returncode == 1
