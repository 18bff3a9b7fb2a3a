"""The gate in front of the routes: the API key, body size and slow clients.

With ``QA_API_KEY`` set, writes (POST/PUT/DELETE on documents) need
``Authorization: Bearer <key>``, and with ``QA_PROTECT_READS=true`` every request does
(``/docs``, ``/redoc`` and ``/openapi.json`` included), except ``/health``, the web page
and CORS preflights. The key is checked from the headers alone, before any body is read, so an
unauthenticated client cannot make the service parse megabytes of JSON. Bodies are limited
in size (``Content-Length`` is refused up front; a body that grows past the limit is cut off)
and must arrive whole within ``body_timeout`` seconds of its first read.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import Any

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# POST routes that only read: they take a body because a question can be long.
READ_POSTS = frozenset({"/ask", "/ask/batch", "/search"})
MCP_PATH = "/mcp"  # the MCP endpoint (qa.agents.mcp): keyed like a read
# The body of a read (the largest valid /ask/batch, 64 questions with filters, is well under
# this): a client without a key cannot make the service hold megabytes per request.
MAX_READ_BODY_BYTES = 1 << 20
# Open even with protected reads: readiness, and the web page (it holds no data; it asks
# for the key when the API answers 401).
OPEN = frozenset({"/health", "/"})


class _Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        self.status, self.detail = status, detail


def route_path(scope: Scope) -> str:
    """The request's path below the app's mount prefix (``root_path``)."""
    path, root = scope["path"], scope.get("root_path", "")
    if root and path.startswith(root):
        return str(path[len(root) :] or "/")
    return str(path)


def authorized(headers: dict[str, str], key: str) -> bool:
    scheme, _, given = headers.get("authorization", "").partition(" ")
    # compare_digest takes constant time whatever the mismatch; the key is never logged.
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), key.encode())


def require_write_key(request: Request) -> None:
    """Route dependency (documents the 401 in OpenAPI; the gate has already checked)."""
    key: str | None = request.app.state.settings.api_key
    if key and not authorized({k.lower(): v for k, v in request.headers.items()}, key):
        raise HTTPException(
            status_code=401, detail=refusal(request.headers), headers={"WWW-Authenticate": "Bearer"}
        )


NEED_KEY = "this request needs the API key: send 'Authorization: Bearer <key>'"
KEY_REJECTED = "API key rejected: the key sent is not this service's key"


def refusal(headers: Any) -> str:
    """Why a request without a valid key is refused: no key sent, or a wrong one."""
    scheme, _, given = headers.get("authorization", "").partition(" ")
    return KEY_REJECTED if scheme.lower() == "bearer" and given else NEED_KEY


class RequestGate:
    def __init__(
        self,
        app: ASGIApp,
        api_key: str | None,
        protect_reads: bool,
        max_body_bytes: int,
        body_timeout: float,
    ) -> None:
        self.app = app
        self.api_key = api_key
        self.protect_reads = protect_reads
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout

    def needs_key(self, method: str, path: str) -> bool:
        if not self.api_key or method == "OPTIONS" or path in OPEN or path.startswith("/static/"):
            return False
        if self.protect_reads:
            return True
        if path == MCP_PATH:  # agents' calls: reads, and writes only where every caller has the key
            return False
        return method in ("PUT", "DELETE", "PATCH") or (method == "POST" and path not in READ_POSTS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.api_key and self.needs_key(scope["method"], path) and not authorized(headers, self.api_key):
            await _reply(send, 401, refusal(headers), [(b"www-authenticate", b"Bearer")])
            return
        reads = path in READ_POSTS or scope["method"] in ("GET", "HEAD")
        limit = min(self.max_body_bytes, MAX_READ_BODY_BYTES) if reads else self.max_body_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _reply(send, 413, f"the request body is over {limit} bytes")
            return
        received = 0
        started = False
        refused: _Refused | None = None
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        complete = False

        async def bounded_receive() -> Message:
            nonlocal received, refused, deadline, complete
            if complete:  # after the body: a wait for the client to hang up, not bounded here
                return await receive()
            if deadline is None:
                deadline = loop.time() + self.body_timeout
            try:
                # One deadline for the whole body, not for each read: a body trickled a byte at
                # a time never completes, however short the gaps between its bytes.
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                refused = _Refused(408, f"the request body did not arrive within {self.body_timeout:g} s")
                raise refused from None
            received += len(message.get("body", b""))
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            if received > limit:
                refused = _Refused(413, f"the request body is over {limit} bytes")
                raise refused
            return message

        async def watch(message: Message) -> None:
            nonlocal started
            if refused is not None and not started:
                # The route caught the refusal (FastAPI turns any failure to read a JSON body
                # into "400 There was an error parsing the body"): answer what the gate decided.
                if message["type"] == "http.response.start":
                    started = True
                    await _reply(send, refused.status, refused.detail)
                return
            if refused is not None:
                return  # the rest of the route's own answer, already replaced
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, watch)
        except _Refused as caught:
            if started:
                raise
            await _reply(send, caught.status, caught.detail)


async def _reply(
    send: Send, status: int, detail: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})


# The page loads nothing but this service's own files and calls nothing but its API; no other
# site may frame it. /docs and /redoc (FastAPI's Swagger UI and ReDoc pages load their
# scripts from a CDN and run an inline one) get the headers without the policy.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
_DOC_PAGES = ("/docs", "/redoc")


class SecurityHeaders:
    """Adds Content-Security-Policy, X-Content-Type-Options, X-Frame-Options and
    Referrer-Policy to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        extra = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
        ]
        if not path.startswith(_DOC_PAGES):
            extra.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in extra if h[0] not in names)]
            await send(message)

        await self.app(scope, receive, with_headers)
