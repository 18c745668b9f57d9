"""The fake Messages API itself, over plain HTTP (no CLI): the contract the e2e tests rely on."""

from __future__ import annotations

import http.client
import json
from typing import Any

from tests.fakes.anthropic_api import Error, FakeAnthropicAPI, Text, Thinking, ToolUse, Turn


def _post(
    api: FakeAnthropicAPI, path: str, body: dict[str, Any], session: str = "s1"
) -> tuple[int, str]:
    host, port = api.base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    headers = {"content-type": "application/json", "x-claude-code-session-id": session}
    conn.request("POST", path, json.dumps(body), headers)
    resp = conn.getresponse()
    data = resp.read().decode()
    conn.close()
    return resp.status, data


def _body(text: str, *, stream: bool = True, **extra: Any) -> dict[str, Any]:
    messages = [
        {"role": "system", "content": "tolerated"},
        {"role": "user", "content": [{"type": "text", "text": text}]},
    ]
    return {"model": "claude-sonnet-4-5", "messages": messages, "stream": stream, **extra}


def test_streaming_blocks_and_usage() -> None:
    with FakeAnthropicAPI() as api:
        m = api.script("s", [Turn([Thinking("hm"), Text("abc", chunk=2), ToolUse("t", {"a": 1})])])
        status, raw = _post(api, "/v1/messages?beta=true", _body(f"x {m}", unknown_key=1))
        assert status == 200
        events = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: ")]
        types = [e["type"] for e in events]
        assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
        starts = [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"]
        assert starts == ["thinking", "text", "tool_use"]
        deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
        texts = [d["text"] for d in deltas if d["type"] == "text_delta"]
        assert texts == ["ab", "c"]
        assert events[-2]["delta"]["stop_reason"] == "tool_use"
        assert api.requests_for("s")[0].body["unknown_key"] == 1  # type: ignore[index]


def test_env_points_the_cli_here(fake_anthropic_api: FakeAnthropicAPI) -> None:
    env = fake_anthropic_api.env()
    assert env["ANTHROPIC_BASE_URL"].startswith("http://127.0.0.1:")
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"


def test_non_streaming_count_tokens_and_hello() -> None:
    with FakeAnthropicAPI(default=[Text("plain")]) as api:
        status, raw = _post(api, "/v1/messages", _body("no marker", stream=False))
        msg = json.loads(raw)
        assert status == 200 and msg["content"] == [{"type": "text", "text": "plain"}]
        assert msg["usage"]["output_tokens"] == 20
        status, raw = _post(api, "/v1/messages/count_tokens", _body("x"))
        assert status == 200 and json.loads(raw)["input_tokens"] > 0
        host, port = api.base_url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        conn.request("HEAD", "/api/hello")
        assert conn.getresponse().status == 404
        conn.close()


def test_retries_advance_the_script_per_conversation() -> None:
    with FakeAnthropicAPI() as api:
        m = api.script("r", [Error(529, "overloaded_error"), Text("second")])
        assert _post(api, "/v1/messages", _body(m, stream=False), "a")[0] == 529
        assert _post(api, "/v1/messages", _body(m, stream=False), "b")[0] == 529
        status, raw = _post(api, "/v1/messages", _body(m, stream=False), "a")
        assert status == 200 and json.loads(raw)["content"][0]["text"] == "second"
        status, raw = _post(api, "/v1/messages", _body(m, stream=False), "a")
        assert "exhausted" in json.loads(raw)["content"][0]["text"]
        error = json.loads(_post(api, "/v1/messages", _body("x", model="gpt-4"))[1])
        assert error["error"]["type"] == "not_found_error"
        assert [r.step for r in api.requests_for("r")] == [0, 0, 1, 2]
