"""Following feeds: the service subscribes to RSS/Atom feed URLs and reads each again every
``interval_s``, so that news arrives without anyone sending it.

- Subscriptions live in the data directory (the back end's state: SQLite or Qdrant), so a
  restart loses none; one poller runs per data directory (a lease in the same state, renewed
  each round), not one per API replica.
- A fetch is conditional (ETag / Last-Modified: an unchanged feed costs a 304), bounded in
  time and bytes, and backs off on errors (the interval doubled per failure, up to
  ``MAX_BACKOFF_S``). Reading a feed again is an import like any (``Engine.import_file``):
  new entries are added, changed ones replaced, unchanged ones left alone, so an entry is
  indexed once however often it is read.
- A URL a client names is a door into the network the service runs in: only http(s), every
  address the host resolves to must be public (no private, loopback, link-local or reserved
  address), redirects are followed by hand and each hop checked the same way, unless
  ``QA_FEED_ALLOW_PRIVATE=true`` (tests, or an intranet on purpose).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from qa.errors import DocumentNotFound, InvalidRequest, QAError

log = logging.getLogger(__name__)

FEEDS_STATE = "feeds"  # the subscriptions, one JSON object
POLLER_STATE = "feeds_poller"  # {"owner", "until"}: which process polls, until when
MIN_INTERVAL_S = 60
DEFAULT_INTERVAL_S = 600
MAX_INTERVAL_S = 7 * 86_400
MAX_BACKOFF_S = 6 * 3_600
MAX_FEEDS = 500
MAX_URL_CHARS = 2_048
FETCH_TIMEOUT_S = 20.0  # per network wait
FETCH_DEADLINE_S = 60.0  # for the whole body
MAX_REDIRECTS = 5
USER_AGENT = "newsqa-feed-reader/0.1 (+https://github.com/)"


class FeedNotFound(DocumentNotFound):
    """No subscription with that id (404)."""


@dataclass
class Feed:
    """One subscription and how its last reads went."""

    feed_id: str
    url: str
    interval_s: int
    added: str
    etag: str | None = None
    last_modified: str | None = None
    last_fetched: str | None = None  # when it was last read (ISO 8601, UTC)
    last_new_entry: str | None = None  # when a read last added an entry
    entries: int = 0  # entries in the feed at its last successful read
    added_entries: int = 0  # entries added from it since it was followed
    failures: int = 0  # reads failed in a row
    last_error: str | None = None
    next_due: float = 0.0  # epoch seconds

    def public(self) -> dict[str, Any]:
        out = asdict(self)
        del out["etag"], out["last_modified"], out["next_due"]
        out["next_read"] = _iso(self.next_due)
        return out


@dataclass(frozen=True)
class Fetched:
    status: int  # 200 or 304
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class Feeds:
    """The subscriptions of one engine's data directory and their polling."""

    engine: Any  # qa.engine.Engine (not imported: the engine does not depend on feeds)
    allow_private: bool = False
    clock: Callable[[], float] = time.time
    fetch: Callable[[str, Feed, int], Fetched] | None = None
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- subscriptions -----------------------------------------------------------------
    def follow(self, url: str, interval_s: int | None = None) -> tuple[Feed, bool]:
        """Subscribe to a feed URL (checked now: scheme and address); (the feed, whether it
        is new). Following a URL already followed changes its interval only."""
        url = url.strip()
        interval = DEFAULT_INTERVAL_S if interval_s is None else int(interval_s)
        if not MIN_INTERVAL_S <= interval <= MAX_INTERVAL_S:
            raise InvalidRequest(f"interval_s must be between {MIN_INTERVAL_S} and {MAX_INTERVAL_S}")
        check_url(url, self.allow_private)
        feed_id = hashlib.sha256(url.encode()).hexdigest()[:12]
        with self._lock:
            feeds = self._load()
            if feed_id in feeds:
                feeds[feed_id].interval_s = interval
                self._save(feeds)
                return feeds[feed_id], False
            if len(feeds) >= MAX_FEEDS:
                raise InvalidRequest(f"{MAX_FEEDS} feeds are followed already: unfollow one first")
            feed = Feed(feed_id, url, interval, _iso(self.clock()), next_due=self.clock())
            feeds[feed_id] = feed
            self._save(feeds)
            return feed, True

    def followed(self) -> list[Feed]:
        return sorted(self._load().values(), key=lambda f: f.added)

    def get(self, feed_id: str) -> Feed:
        feed = self._load().get(feed_id)
        if feed is None:
            raise FeedNotFound(f"no followed feed {feed_id!r}")
        return feed

    def unfollow(self, feed_id: str) -> None:
        """Stop following a feed; its entries stay in the corpus."""
        with self._lock:
            feeds = self._load()
            if feeds.pop(feed_id, None) is None:
                raise FeedNotFound(f"no followed feed {feed_id!r}")
            self._save(feeds)

    def _load(self) -> dict[str, Feed]:
        raw = self.engine.backend.get_state(FEEDS_STATE)
        if not raw:
            return {}
        try:
            return {k: Feed(**v) for k, v in json.loads(raw).items()}
        except (ValueError, TypeError) as exc:
            log.error("the followed feeds' record is unreadable (%s): following none", exc)
            return {}

    def _save(self, feeds: dict[str, Feed]) -> None:
        self.engine.backend.set_state(FEEDS_STATE, json.dumps({k: asdict(v) for k, v in feeds.items()}))

    # --- polling -----------------------------------------------------------------------
    def claim(self, lease_s: float) -> bool:
        """Whether this process is the one that polls (it takes or renews a lease in the data
        directory's state for ``lease_s`` seconds; another's unexpired lease wins)."""
        now = self.clock()
        with self._lock:
            try:
                held = json.loads(self.engine.backend.get_state(POLLER_STATE) or "{}")
            except ValueError:
                held = {}
            if held.get("owner") not in (None, self.owner) and float(held.get("until", 0)) > now:
                return False
            self.engine.backend.set_state(
                POLLER_STATE, json.dumps({"owner": self.owner, "until": now + lease_s})
            )
        return True

    def due(self) -> list[Feed]:
        """The followed feeds whose next read is due."""
        return [f for f in self.followed() if f.next_due <= self.clock()]

    def poll_due(self) -> list[tuple[str, str]]:
        """Read every feed that is due; (feed_id, what happened) each."""
        return [(f.feed_id, self.poll(f.feed_id)) for f in self.due()]

    def poll(self, feed_id: str) -> str:
        """Read one feed now; a line saying what happened (also kept on the feed)."""
        feed = self.get(feed_id)
        limit = int(self.engine.settings.max_document_bytes)
        try:
            got = (self.fetch or self._fetch)(feed.url, feed, limit)
            if got.status == 304:
                outcome, written = "not modified", None
            else:
                refused: list[tuple[str, str]] = []
                written = self.engine.import_file(f"{_stem(feed)}.xml", got.body, "feed", refused=refused)
                added = sum(w.status == "added" for w in written)
                replaced = sum(w.status == "replaced" for w in written)
                outcome = f"{added} added, {replaced} replaced, {len(written) - added - replaced} unchanged"
                if refused:
                    outcome += f", {len(refused)} left out ({refused[0][0]}: {refused[0][1]})"
        except (QAError, OSError, ValueError) as exc:
            return self._record(feed_id, error=_one_line(exc))
        return self._record(feed_id, outcome=outcome, fetched=got, written=written)

    def _record(
        self,
        feed_id: str,
        outcome: str | None = None,
        error: str | None = None,
        fetched: Fetched | None = None,
        written: list[Any] | None = None,
    ) -> str:
        now = self.clock()
        with self._lock:
            feeds = self._load()
            feed = feeds.get(feed_id)
            if feed is None:  # unfollowed while it was read
                return outcome or error or ""
            feed.last_fetched = _iso(now)
            if error is not None:
                feed.failures += 1
                feed.last_error = error
                feed.next_due = now + min(
                    feed.interval_s * 2**feed.failures, max(MAX_BACKOFF_S, feed.interval_s)
                )
                log.warning(
                    "feed %s (%s): %s; next read in %.0f s", feed_id, feed.url, error, feed.next_due - now
                )
            else:
                assert fetched is not None
                feed.failures, feed.last_error = 0, None
                feed.next_due = now + feed.interval_s
                feed.etag = fetched.etag or feed.etag
                feed.last_modified = fetched.last_modified or feed.last_modified
                if written is not None:
                    feed.entries = len(written)
                    new = sum(w.status == "added" for w in written)
                    feed.added_entries += new
                    if new:
                        feed.last_new_entry = _iso(now)
            self._save(feeds)
        return (outcome or "") if error is None else f"failed: {error}"

    def _fetch(self, url: str, feed: Feed, limit: int) -> Fetched:
        """GET ``url`` conditionally, following up to ``MAX_REDIRECTS`` redirects (each
        checked as the URL was), reading at most ``limit`` bytes."""
        headers = {"User-Agent": USER_AGENT, "Accept": "application/rss+xml, application/atom+xml, */*"}
        if feed.etag:
            headers["If-None-Match"] = feed.etag
        if feed.last_modified:
            headers["If-Modified-Since"] = feed.last_modified
        opener = urllib.request.build_opener(_NoRedirect)
        for _ in range(MAX_REDIRECTS + 1):
            check_url(url, self.allow_private)
            request = urllib.request.Request(url, headers=headers)
            try:
                with opener.open(request, timeout=FETCH_TIMEOUT_S) as response:
                    body = _read_bounded(response, limit, time.monotonic() + FETCH_DEADLINE_S)
                    return Fetched(
                        200, body, response.headers.get("ETag"), response.headers.get("Last-Modified")
                    )
            except urllib.error.HTTPError as exc:
                if exc.code == 304:
                    return Fetched(304)
                location = exc.headers.get("Location") if exc.code in (301, 302, 303, 307, 308) else None
                if not location:
                    raise ValueError(f"HTTP {exc.code} {exc.reason}") from None
                url = urllib.parse.urljoin(url, location)
            except urllib.error.URLError as exc:
                raise ValueError(f"cannot fetch it ({exc.reason})") from None
        raise ValueError(f"more than {MAX_REDIRECTS} redirects")


def _read_bounded(response: Any, limit: int, deadline: float) -> bytes:
    """The body, refused past ``limit`` bytes or past ``deadline`` (a server that trickles)."""
    chunks, size = [], 0
    while chunk := response.read(65_536):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise ValueError(f"the feed is larger than {limit:,} bytes (QA_MAX_DOCUMENT_BYTES)")
        if time.monotonic() > deadline:
            raise ValueError(f"the feed took longer than {FETCH_DEADLINE_S:.0f} s to arrive")
    return b"".join(chunks)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects come back as errors, to be checked before they are followed."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def check_url(url: str, allow_private: bool) -> None:
    """Refuse a feed URL that is not http(s), or whose host resolves to an address that is not
    public (unless ``allow_private``): a client must not reach the service's own network."""
    if len(url) > MAX_URL_CHARS:
        raise InvalidRequest(f"the feed URL is longer than {MAX_URL_CHARS} characters")
    if any(c.isspace() or ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in url):
        raise InvalidRequest("a feed URL holds no spaces, control characters or lone surrogates")
    try:
        parts = urllib.parse.urlsplit(url)
        hostname = parts.hostname
    except ValueError as exc:
        raise InvalidRequest(f"{url[:100]!r} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise InvalidRequest(f"{url[:100]!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise InvalidRequest("a feed URL with a user name or password is not followed")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError) as exc:
        raise InvalidRequest(f"cannot resolve {hostname!r} ({exc})") from None
    if allow_private:
        return
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global or address.is_multicast:
            raise InvalidRequest(
                f"{hostname} resolves to {address}, a private, loopback or reserved address: "
                "feeds are fetched from public addresses only (QA_FEED_ALLOW_PRIVATE=true allows others)"
            )


def _stem(feed: Feed) -> str:
    """The prefix of a followed feed's entries' ids: its host and its id."""
    host = urllib.parse.urlsplit(feed.url).hostname or "feed"
    return f"{re.sub(r'[^a-z0-9]+', '-', host.lower()).strip('-')[:60] or 'feed'}-{feed.feed_id[:6]}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


class Poller:
    """A daemon thread that reads the due feeds every ``tick_s`` while this process holds
    the poller lease; ``stop`` ends it."""

    def __init__(self, feeds: Feeds, tick_s: float = 5.0) -> None:
        self.feeds = feeds
        self.tick_s = tick_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feed-poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                # The lease is taken only when there is work: an idle service writes nothing.
                if self.feeds.due() and self.feeds.claim(lease_s=max(30.0, 6 * self.tick_s)):
                    for feed_id, outcome in self.feeds.poll_due():
                        log.info("feed %s: %s", feed_id, outcome)
            except Exception:
                log.exception("reading the followed feeds failed; trying again in %.0f s", self.tick_s)
            self._stop.wait(self.tick_s)
