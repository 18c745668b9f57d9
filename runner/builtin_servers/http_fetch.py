"""Built-in ``http_fetch`` server: HTTP(S) requests to an allow-list of domains only.

Standalone (stdlib + ``mcp``): ``python -m runner.builtin_servers.http_fetch``. Settings from
env: HTTP_FETCH_ALLOWED_DOMAINS (comma-separated; ``example.com`` also allows its subdomains,
``*.example.com`` only subdomains, ``host:port`` pins a port, ``*`` allows all),
HTTP_FETCH_MAX_BYTES, HTTP_FETCH_TIMEOUT. Every redirect hop is checked against the list.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from html.parser import HTMLParser
from http.client import HTTPMessage
from typing import Any
from urllib.parse import urlsplit

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})
DEFAULT_MAX_BYTES = 1_000_000
MAX_REDIRECTS = 5
SHOWN_HEADERS = ("content-type", "content-length", "last-modified", "etag", "location")


class FetchError(Exception):
    """A request that is refused or cannot be made."""


def parse_allow_list(text: str) -> tuple[str, ...]:
    """Normalised allow-list entries (lower case, no scheme, no trailing dot)."""
    out = []
    for raw in text.split(","):
        entry = raw.strip().lower()
        if "://" in entry:
            entry = entry.split("://", 1)[1]
        entry = entry.split("/", 1)[0].rstrip(".")
        if entry:
            out.append(entry)
    return tuple(out)


def is_allowed(url: str, allowed: tuple[str, ...]) -> bool:
    """Whether ``url`` is http(s) and its host (and port, if the entry names one) is allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    host = parts.hostname.lower().rstrip(".")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    for entry in allowed:
        if entry == "*":
            return True
        name, _, pinned = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if pinned and pinned != str(port):
            continue
        name = name or entry
        if name.startswith("*."):
            if host.endswith(name[1:]):
                return True
        elif host == name or host.endswith("." + name):
            return True
    return False


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    def __init__(self, allowed: tuple[str, ...]) -> None:
        self.allowed = allowed

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if not is_allowed(newurl, self.allowed):
            raise FetchError(f"redirect to a domain that is not allowed: {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style", "noscript"):
            self.skip += 1
        elif tag in ("p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "section"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "noscript") and self.skip:
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Visible text of an HTML page, whitespace collapsed per line."""
    parser = _TextExtractor()
    parser.feed(html)
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def fetch(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: str | None = None,
    text_only: bool = False,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Make one request (following allowed redirects) and describe the response."""
    env = os.environ if env is None else env
    allowed = parse_allow_list(env.get("HTTP_FETCH_ALLOWED_DOMAINS", ""))
    max_bytes = int(env.get("HTTP_FETCH_MAX_BYTES", "") or DEFAULT_MAX_BYTES)
    timeout = float(env.get("HTTP_FETCH_TIMEOUT", "") or 20)
    method = method.upper()
    if method not in METHODS:
        raise FetchError(f"method {method} is not supported")
    if not allowed:
        raise FetchError("no domains are allowed (set HTTP_FETCH_ALLOWED_DOMAINS)")
    if not is_allowed(url, allowed):
        raise FetchError(f"domain not allowed: {urlsplit(url).hostname or url!r}")
    data = body.encode("utf-8") if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("User-Agent", "claude-runner-http-fetch/1")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    opener = urllib.request.build_opener(_CheckedRedirects(allowed))
    opener.addheaders = []
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        response = exc
    except urllib.error.URLError as exc:
        raise FetchError(f"request failed: {exc.reason}") from None
    except (OSError, ValueError) as exc:
        raise FetchError(f"request failed: {exc}") from None
    with response:
        raw = response.read(max_bytes + 1) if method != "HEAD" else b""
        status = response.status if response.status is not None else 0
        final_url = response.geturl()
        resp_headers = {k.lower(): v for k, v in response.headers.items()}
        charset = response.headers.get_content_charset() or "utf-8"
    truncated = len(raw) > max_bytes
    text = raw[:max_bytes].decode(charset, errors="replace")
    ctype = resp_headers.get("content-type", "")
    if text_only and "html" in ctype:
        text = html_to_text(text)
    return {
        "status": status,
        "url": final_url,
        "headers": {k: resp_headers[k] for k in SHOWN_HEADERS if k in resp_headers},
        "body": text,
        "truncated": truncated,
    }


def build_server() -> Any:
    """The MCP server object (imported lazily so the helpers above stay cheap to import)."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    server = MCPServer("http_fetch", instructions="HTTP requests to allowed domains only.")

    @server.tool(name="fetch")
    def fetch_tool(
        url: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        body: str | None = None,
        text_only: bool = False,
    ) -> dict[str, Any]:
        """Request `url` (http/https, allowed domains only). `text_only` strips HTML to text."""
        try:
            return fetch(url, method=method, headers=headers, body=body, text_only=text_only)
        except FetchError as exc:
            raise ToolError(str(exc)) from None

    @server.tool()
    def allowed_domains() -> list[str]:
        """The domains this server may fetch from."""
        return list(parse_allow_list(os.environ.get("HTTP_FETCH_ALLOWED_DOMAINS", "")))

    return server


if __name__ == "__main__":
    build_server().run("stdio")
