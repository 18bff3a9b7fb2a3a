"""Following feeds under change, as a user would run it: ``python -m qa.tools.feed_soak``.

A local HTTP server on 127.0.0.1 serves ``--feeds`` RSS feeds; every ``--change-every``
seconds one more entry appears in each (and now and then an entry is corrected). A real
``qa serve`` (a child process, ``QA_FEED_ALLOW_PRIVATE=true``) follows them all through
``POST /feeds`` at the shortest interval (60 s) and is killed (SIGKILL) and started again
half-way. When the feeds stop changing and every feed has been read since, the corpus must
hold every entry published exactly once, each at its latest text, and every subscription
must have survived the restart. Prints the figures; exit 1 on any loss or duplicate.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from qa.tools.devserver import start_server

INTERVAL_S = 60


class Feeds:
    """``n`` feeds whose entries grow over time; entry ``j`` of feed ``i`` is ``f{i}-{j}``."""

    def __init__(self, n: int) -> None:
        self.lock = threading.Lock()
        self.entries: list[list[tuple[str, str]]] = [[] for _ in range(n)]
        self.corrections = 0
        for i in range(n):
            self.add(i)

    def add(self, i: int) -> None:
        with self.lock:
            j = len(self.entries[i])
            text = (
                f"Officials in district {i} said on day {j} that the road to village {j} reopened "
                f"after {j + 2} days of repairs to the bridge, and {10 * j + i} trucks crossed it."
            )
            self.entries[i].append((f"f{i}-{j}", text))

    def correct(self, i: int) -> None:
        with self.lock:
            guid, text = self.entries[i][0]
            self.entries[i][0] = (guid, text.replace("said on", "confirmed on", 1))
            self.corrections += 1

    def rss(self, i: int) -> bytes:
        with self.lock:
            items = "".join(
                f"<item><guid>{g}</guid><title>Road news {g}</title><description>{t}</description></item>"
                for g, t in self.entries[i][-50:]  # a feed shows its latest entries only
            )
        return (
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>District {i}</title>{items}'
            "</channel></rss>"
        ).encode()


def serve(feeds: Feeds) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            i = int(self.path.strip("/").split(".")[0].removeprefix("feed"))
            body = feeds.rss(i)
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def call(url: str, method: str = "GET", body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as r:
        return json.loads(r.read())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=20)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--change-every", type=float, default=45.0, help="seconds between new entries")
    args = ap.parse_args(argv)
    feeds = Feeds(args.feeds)
    httpd = serve(feeds)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    env = {"QA_FEED_ALLOW_PRIVATE": "true", "QA_FEED_POLL_TICK_S": "1", "QA_READER": "false"}
    with tempfile.TemporaryDirectory() as tmp:
        data, empty = Path(tmp) / "data", Path(tmp) / "empty"
        empty.mkdir()
        proc, url = start_server(data, empty, **env)
        for i in range(args.feeds):
            call(url + "/feeds", "POST", {"url": f"{base}/feed{i}.xml", "interval_s": INTERVAL_S})
        start, restarted = time.monotonic(), False
        end = start + args.minutes * 60
        next_change = start + args.change_every
        while time.monotonic() < end:
            if time.monotonic() >= next_change:
                for i in range(args.feeds):
                    feeds.add(i)
                feeds.correct(int(time.monotonic()) % args.feeds)
                next_change += args.change_every
            if not restarted and time.monotonic() > start + args.minutes * 30:
                proc.send_signal(signal.SIGKILL)  # the worst restart: no shutdown at all
                proc.wait()
                proc, url = start_server(data, empty, **env)
                restarted = True
                print(f"killed and restarted at {time.monotonic() - start:.0f} s", flush=True)
            time.sleep(1)
        last_change = time.time()
        # Every feed read once more after the last change (at most one interval, plus a tick).
        deadline = time.monotonic() + INTERVAL_S + 60
        while time.monotonic() < deadline:
            listed = call(url + "/feeds")["feeds"]
            if all(f["last_fetched"] and _ts(f["last_fetched"]) > last_change + 1 for f in listed):
                break
            time.sleep(2)
        listed = call(url + "/feeds")["feeds"]
        published = {g: t for entries in feeds.entries for g, t in entries}
        stored: dict[str, str] = {}
        after = None
        while True:
            page = call(url + "/documents?limit=1000&sort=doc_id" + (f"&after={after}" if after else ""))
            for d in page["documents"]:
                stored[d["doc_id"]] = call(f"{url}/documents/{d['doc_id']}")["text"]
            after = page["next"]
            if after is None:
                break
        proc.terminate()
        proc.wait(30)
    httpd.shutdown()
    texts = list(stored.values())
    found = sum(any(t in s for s in texts) for t in published.values())
    duplicates = sum(sum(t in s for s in texts) > 1 for t in published.values())
    print(
        f"{args.feeds} feeds, {args.minutes:g} min, a new entry in each every {args.change_every:g} s, "
        f"{feeds.corrections} corrections, SIGKILL and restart half-way:\n"
        f"  subscriptions after the restart: {len(listed)} of {args.feeds}\n"
        f"  entries published: {len(published)}; stored at their latest text: {found}; "
        f"documents stored: {len(stored)}; entries stored twice: {duplicates}\n"
        f"  reads that failed last time: {sum(1 for f in listed if f['last_error'])}"
    )
    ok = len(listed) == args.feeds and found == len(published) == len(stored) and not duplicates
    return 0 if ok else 1


def _ts(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


if __name__ == "__main__":
    sys.exit(main())
