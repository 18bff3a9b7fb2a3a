"""The HTTP server ``qa serve`` runs: a request head must arrive in time (a client that
sends nothing, or a header line now and then, used to hold its connection forever)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

import api.serving
from api.serving import HeadsInTime


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(1.5)  # longer than the head deadline: a slow answer is not cut off
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setattr(api.serving, "HEADER_TIMEOUT_S", 0.8)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, http=HeadsInTime, log_level="warning", lifespan="off"
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert running.started
    yield running.servers[0].sockets[0].getsockname()[1]
    running.should_exit = True
    thread.join(10)


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Whether the server closed ``sock`` within ``seconds``, and what it sent first."""
    sock.settimeout(seconds)
    got = b""
    try:
        while chunk := sock.recv(4096):
            got += chunk
    except TimeoutError:
        return False, got
    return True, got


def test_a_connection_that_sends_nothing_is_closed(server: int) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        closed, _ = closed_within(sock, 5)
        assert closed and 0.5 < time.monotonic() - started < 3


def test_a_head_trickled_a_line_at_a_time_gets_408_and_is_closed(server: int) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        try:
            for i in range(30):  # one header line every 0.2 s: each read is in time, the head is not
                sock.sendall(f"X-Slow-{i}: y\r\n".encode())
                time.sleep(0.2)
        except OSError:  # closed under us
            pass
        closed, got = closed_within(sock, 5)
        assert closed and time.monotonic() - started < 4
        assert got.startswith(b"HTTP/1.1 408")


def test_requests_in_time_are_served_on_a_kept_alive_connection(server: int) -> None:
    with connect(server) as sock:
        for path in ("/", "/slow", "/"):
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            reply = b""
            while not reply.endswith(b"ok"):
                chunk = sock.recv(4096)
                assert chunk, path
                reply += chunk
            assert reply.startswith(b"HTTP/1.1 200"), path
            time.sleep(0.3)  # the next head comes a little later, still in time
