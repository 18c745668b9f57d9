"""OAuth 2.1 exactness around the mcp auth kit's endpoints (ASGI middleware of the MCP app).

What the kit does not do, by RFC clause:

* RFC 8707 §2: a ``resource`` on ``/token`` that is not this server's protected resource is
  refused with ``invalid_target`` (the kit ignores it);
* RFC 8414 §2/§3.3 and RFC 9728 §3: one issuer string everywhere (the kit's URLs gain a trailing
  slash); the authorization-server metadata lists ``none`` among the token endpoint auth methods
  (public clients are accepted) and, RFC 9207 §3, the ``iss`` parameter as supported;
* RFC 9207 §2: every authorization response that goes back to a client carries ``iss``, errors
  from ``/authorize`` included (the consent page adds it to its own answers).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec

from web.mcp_mount import ASGIApp, Message, Receive, Scope, Send

METADATA_PATHS = (
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
)
PRM_PATH = "/.well-known/oauth-protected-resource"


def with_iss(location: str, issuer: str) -> str:
    """``location`` with ``iss=<issuer>`` in its query (replacing any given)."""
    parts = urlsplit(location)
    params = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "iss"]
    params.append(("iss", issuer))
    return urlunsplit(parts._replace(query=urlencode(params)))


class OAuthExact:
    """Wraps the MCP app: ``/token`` resource check, metadata fixes, ``iss`` on redirects."""

    def __init__(self, app: ASGIApp, *, issuer: str, resource: str) -> None:
        self.app = app
        self.issuer = issuer
        self.resource = resource

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        if path == "/token" and scope.get("method") == "POST":
            body, receive = await _buffer(receive)
            refused = self._check_resource(body)
            if refused is not None:
                await _json(send, 400, refused)
                return
        if path.startswith(METADATA_PATHS) or path.startswith(PRM_PATH):
            await self.app(scope, receive, self._rewrite_json(send, path))
            return
        if path == "/authorize":
            await self.app(scope, receive, self._iss_on_redirect(send))
            return
        await self.app(scope, receive, send)

    def _check_resource(self, body: bytes) -> dict[str, str] | None:
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return None  # the kit answers invalid_request
        wanted = self.resource.rstrip("/")
        bad = [r for r in form.get("resource", []) if r.rstrip("/") != wanted]
        if not bad:
            return None
        return {
            "error": "invalid_target",
            "error_description": f"this server only issues tokens for {self.resource}",
        }

    def _fix(self, doc: dict[str, Any], path: str) -> dict[str, Any]:
        if path.startswith(PRM_PATH):
            doc["resource"] = self.resource
            doc["authorization_servers"] = [self.issuer]
            return doc
        doc["issuer"] = self.issuer
        for key in ("token_endpoint_auth_methods_supported",
                    "revocation_endpoint_auth_methods_supported"):  # fmt: skip
            methods = list(doc.get(key) or [])
            if "none" not in methods:
                doc[key] = [*methods, "none"]
        doc["authorization_response_iss_parameter_supported"] = True
        return doc

    def _rewrite_json(self, send: Send, path: str) -> Send:
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(bytes(message.get("body", b"")))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            if start.get("status") == 200:
                try:
                    body = msgspec.json.encode(self._fix(msgspec.json.decode(body), path))
                except (msgspec.DecodeError, TypeError, AttributeError):
                    pass
            headers = [(k, v) for k, v in start.get("headers", []) if bytes(k).lower()
                       != b"content-length"]  # fmt: skip
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        return sending

    def _iss_on_redirect(self, send: Send) -> Send:
        consent = self.issuer + "/"

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and message.get("status") in (302, 303):
                headers = []
                for k, v in message.get("headers", []):
                    if bytes(k).lower() == b"location":
                        loc = bytes(v).decode("latin-1")
                        if not loc.startswith(consent):  # an answer to the client, not our page
                            v = with_iss(loc, self.issuer).encode("latin-1")
                    headers.append((k, v))
                message = {**message, "headers": headers}
            await send(message)

        return sending


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(bytes(message.get("body", b"")))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def _json(send: Send, status: int, body: dict[str, str]) -> None:
    payload = msgspec.json.encode(body)
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"cache-control", b"no-store"),
        (b"content-length", str(len(payload)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": payload})
