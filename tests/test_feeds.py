"""Following feeds (``qa.intake.feeds``, ``/feeds``): read from a local HTTP server whose feed
changes between reads; subscriptions survive a restart; only public addresses unless
allowed; errors back off."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import qa.intake.feeds
from api.app import create_app
from qa.engine import Engine
from qa.errors import InvalidRequest
from qa.intake.feeds import FeedNotFound, Feeds, check_url
from qa.settings import Settings


def rss(*items: tuple[str, str]) -> bytes:
    body = "".join(
        f"<item><guid>{guid}</guid><title>Story {guid}</title><link>https://wire.example/{guid}</link>"
        f"<description>{text}</description></item>"
        for guid, text in items
    )
    channel = f"<channel><title>Pamir Wire</title>{body}</channel>"
    return f'<?xml version="1.0"?><rss version="2.0">{channel}</rss>'.encode()


class FeedServer:
    """Serves ``self.feed`` at /feed.xml with an ETag (304 when it matches), ``/broken``
    as a 500 and ``/moved`` as a redirect to ``self.redirect``; counts the requests."""

    def __init__(self) -> None:
        self.feed = rss()
        self.redirect = "/feed.xml"
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                if self.path == "/broken":
                    self.send_response(500)
                    self.end_headers()
                    return
                if self.path == "/moved":
                    self.send_response(302)
                    self.send_header("Location", server.redirect)
                    self.end_headers()
                    return
                etag = f'"{hash(server.feed)}"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(server.feed)))
                self.end_headers()
                self.wfile.write(server.feed)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    s = FeedServer()
    yield s
    s.httpd.shutdown()


ONE = ("urn:1", "More than 300 Afghan soldiers crossed into Tajikistan on Monday, the border service said.")
TWO = ("urn:2", "The Khorog crossing reopened to trucks on Tuesday morning, customs officials said.")
THREE = ("urn:3", "Tajikistan mobilized 20,000 reservists to its border with Afghanistan, officials said.")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_followed_feed_is_read_again_when_due_and_survives_a_restart(
    tmp_path: Path, embedder: Any, server: FeedServer
) -> None:
    settings = Settings(data_dir=tmp_path / "d", reader=False)
    engine = Engine(settings, embedder=embedder)
    clock = Clock()
    feeds = Feeds(engine, allow_private=True, clock=clock)
    server.feed = rss(ONE, TWO)
    feed, new = feeds.follow(server.url + "/feed.xml", interval_s=600)
    assert new and feeds.follow(server.url + "/feed.xml", interval_s=900) == (feeds.get(feed.feed_id), False)
    assert feeds.poll_due() == [(feed.feed_id, "2 added, 0 replaced, 0 unchanged")]
    assert feeds.poll_due() == []  # not due for another 900 s
    clock.now += 900
    assert feeds.poll_due() == [(feed.feed_id, "not modified")]  # the ETag matched: a 304
    changed = (TWO[0], TWO[1].replace("Tuesday", "Wednesday"))
    server.feed = rss(THREE, ONE, changed)
    clock.now += 900
    assert feeds.poll_due() == [(feed.feed_id, "1 added, 1 replaced, 1 unchanged")]
    state = feeds.get(feed.feed_id)
    assert (state.entries, state.added_entries, state.failures, state.last_error) == (3, 3, 0, None)
    assert engine.health().documents == 3
    hit = engine.search("When did the Khorog crossing reopen?", k=1).passages[0]
    assert "Wednesday" in hit.text and hit.doc_id.startswith("127-0-0-1-")
    engine.close()

    reopened = Engine(settings, embedder=embedder)  # a restart: the subscription is still there
    try:
        (kept,) = Feeds(reopened, allow_private=True, clock=clock).followed()
        assert (kept.url, kept.interval_s, kept.added_entries) == (server.url + "/feed.xml", 900, 3)
    finally:
        reopened.close()


def test_errors_back_off_and_redirects_are_checked_hop_by_hop(
    tmp_path: Path, embedder: Any, server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(Settings(data_dir=tmp_path / "d", reader=False), embedder=embedder)
    clock = Clock()
    feeds = Feeds(engine, allow_private=True, clock=clock)
    broken, _ = feeds.follow(server.url + "/broken", interval_s=60)
    assert feeds.poll(broken.feed_id) == "failed: HTTP 500 Internal Server Error"
    assert feeds.poll(broken.feed_id).startswith("failed")
    state = feeds.get(broken.feed_id)
    assert state.failures == 2 and state.next_due == clock.now + 60 * 4  # doubled per failure

    # A redirect is followed only where its target passes the same check as the URL.
    real_check = check_url

    def loopback_by_number_only(url: str, allow_private: bool) -> None:
        if "localhost" in url:
            raise InvalidRequest("localhost refused")
        real_check(url, allow_private)

    monkeypatch.setattr(qa.intake.feeds, "check_url", loopback_by_number_only)
    server.redirect = server.url.replace("127.0.0.1", "localhost") + "/feed.xml"
    server.feed = rss(ONE)
    moved, _ = feeds.follow(server.url + "/moved", interval_s=60)
    assert feeds.poll(moved.feed_id) == "failed: localhost refused"
    assert "/feed.xml" not in server.requests and engine.health().documents == 0
    feeds.unfollow(moved.feed_id)
    with pytest.raises(FeedNotFound):
        feeds.unfollow(moved.feed_id)
    engine.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/feed.xml",
        "http://localhost/feed.xml",
        "http://10.0.0.5/rss",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/feed",
        "file:///etc/passwd",
        "ftp://wire.example/feed.xml",
        "http://user:secret@wire.example/feed.xml",
    ],
)
def test_only_public_http_addresses_are_followed(url: str) -> None:
    with pytest.raises(InvalidRequest):
        check_url(url, allow_private=False)


def test_one_poller_per_data_directory(tmp_path: Path, embedder: Any) -> None:
    engine = Engine(Settings(data_dir=tmp_path / "d", reader=False), embedder=embedder)
    clock = Clock()
    first, second = Feeds(engine, clock=clock), Feeds(engine, clock=clock)
    assert first.claim(lease_s=30) and not second.claim(lease_s=30)
    assert first.claim(lease_s=30)  # renewed by its holder
    clock.now += 31  # the holder is gone: its lease runs out
    assert second.claim(lease_s=30) and not first.claim(lease_s=30)
    engine.close()


def test_the_service_follows_a_feed_it_is_given(tmp_path: Path, embedder: Any, server: FeedServer) -> None:
    server.feed = rss(ONE, TWO)
    settings = Settings(
        data_dir=tmp_path / "d", reader=False, api_key="k3y", feed_allow_private=True, feed_poll_tick_s=0.1
    )
    engine = Engine(settings, embedder=embedder)
    key = {"Authorization": "Bearer k3y"}
    with TestClient(create_app(engine)) as client:
        assert client.post("/feeds", json={"url": server.url + "/feed.xml"}).status_code == 401
        made = client.post("/feeds", json={"url": server.url + "/feed.xml", "interval_s": 60}, headers=key)
        assert made.status_code == 201, made.text
        feed_id = made.json()["feed_id"]
        deadline = time.monotonic() + 30
        while client.get(f"/feeds/{feed_id}").json()["entries"] < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        listed = client.get("/feeds").json()["feeds"]
        assert [(f["feed_id"], f["entries"], f["added_entries"]) for f in listed] == [(feed_id, 2, 2)]
        assert client.get("/health").json()["documents"] == 2
        again = client.post("/feeds", json={"url": server.url + "/feed.xml"}, headers=key)
        assert again.status_code == 200 and again.json()["feed_id"] == feed_id
        bad = client.post("/feeds", json={"url": "file:///etc/passwd"}, headers=key)
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "url"]
        assert client.delete(f"/feeds/{feed_id}", headers=key).status_code == 204
        assert client.get(f"/feeds/{feed_id}").status_code == 404
        assert client.get("/health").json()["documents"] == 2  # its entries stay
    engine.close()
