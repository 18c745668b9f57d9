"""The built-in http_fetch server against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from runner.builtin_servers import http_fetch
from runner.servers.launch import builtin_launch
from runner.servers.session import open_session


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        port = self.server.server_port  # type: ignore[attr-defined]
        if self.path == "/hello":
            self._send(200, b"hello world")
        elif self.path == "/page":
            html = b"<html><style>x{}</style><body><h1>Title</h1><p>Some <b>text</b></p></body>"
            self._send(200, html, "text/html; charset=utf-8")
        elif self.path == "/in":
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{port}/hello")
            self.end_headers()
        elif self.path == "/out":
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{port}/hello")
            self.end_headers()
        elif self.path == "/big":
            self._send(200, b"x" * 5000)
        else:
            self._send(404, b"nope")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self._send(201, b"got " + self.rfile.read(length))


@pytest.fixture
def web() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_allow_list_matching() -> None:
    allowed = http_fetch.parse_allow_list("Example.com, *.api.test, https://pinned.test:8443/x")
    assert allowed == ("example.com", "*.api.test", "pinned.test:8443")
    ok = http_fetch.is_allowed
    assert ok("https://example.com/a", allowed)
    assert ok("https://news.example.com/a", allowed)
    assert not ok("https://badexample.com/", allowed)
    assert not ok("https://example.com.evil.test/", allowed)
    assert ok("https://v1.api.test/", allowed) and not ok("https://api.test/", allowed)
    assert ok("https://pinned.test:8443/", allowed) and not ok("https://pinned.test/", allowed)
    assert not ok("file:///etc/passwd", allowed) and not ok("ftp://example.com/", allowed)
    assert ok("http://anything.test/", ("*",))


def test_fetch_in_process(web: int) -> None:
    env = {"HTTP_FETCH_ALLOWED_DOMAINS": "127.0.0.1", "HTTP_FETCH_MAX_BYTES": "1000"}
    base = f"http://127.0.0.1:{web}"
    out = http_fetch.fetch(f"{base}/hello", env=env)
    assert out["status"] == 200 and out["body"] == "hello world" and not out["truncated"]
    page = http_fetch.fetch(f"{base}/page", text_only=True, env=env)
    assert page["body"] == "Title\nSome text"
    assert http_fetch.fetch(f"{base}/in", env=env)["url"] == f"{base}/hello"
    with pytest.raises(http_fetch.FetchError, match="redirect to a domain that is not allowed"):
        http_fetch.fetch(f"{base}/out", env=env)
    big = http_fetch.fetch(f"{base}/big", env=env)
    assert big["truncated"] and len(big["body"]) == 1000
    assert http_fetch.fetch(f"{base}/missing", env=env)["status"] == 404
    posted = http_fetch.fetch(f"{base}/echo", method="POST", body="abc", env=env)
    assert (posted["status"], posted["body"]) == (201, "got abc")
    with pytest.raises(http_fetch.FetchError, match="no domains are allowed"):
        http_fetch.fetch(f"{base}/hello", env={})
    with pytest.raises(http_fetch.FetchError, match="not supported"):
        http_fetch.fetch(f"{base}/hello", method="TRACE", env=env)


@pytest.mark.anyio
async def test_fetch_over_stdio_enforces_allow_list(web: int, tmp_path: Path) -> None:
    launch = builtin_launch(tmp_path, "http_fetch", {"HTTP_FETCH_ALLOWED_DOMAINS": "127.0.0.1"})
    async with open_session(launch) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert tools == {"fetch", "allowed_domains"}
        ok = await client.call_tool("fetch", {"url": f"http://127.0.0.1:{web}/hello"})
        assert not ok.is_error
        assert ok.structured_content is not None
        assert ok.structured_content["body"] == "hello world"
        refused = await client.call_tool("fetch", {"url": f"http://localhost:{web}/hello"})
        assert refused.is_error
        assert "domain not allowed: 'localhost'" in str(refused.content[0])
