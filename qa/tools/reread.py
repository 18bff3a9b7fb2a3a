"""What reading a feed again costs: ``python -m qa.tools.reread`` imports a 100-entry RSS feed
(300 passages) into a fresh data directory, then the same feed again five times, and prints
the first read's time, each re-read's time and what each re-read reported."""

from __future__ import annotations

import tempfile
import time

from qa.engine import Engine


def feed(entries: int = 100) -> bytes:
    items = "".join(
        f"<item><guid>urn:{n}</guid><title>Story {n} of the day</title><link>https://wire.example/{n}</link>"
        f"<pubDate>Tue, 06 Jul 2021 08:{n % 60:02d}:00 GMT</pubDate><description>&lt;p&gt;Officials in "
        f"province {n} said the border crossing number {n} reopened to trucks on Tuesday after {n} days."
        f"&lt;/p&gt;&lt;p&gt;Traders said the queue of lorries had reached {n * 3} vehicles by the "
        f"morning, the governor's office reported.&lt;/p&gt;</description></item>"
        for n in range(entries)
    )
    channel = f"<channel><title>Wire</title>{items}</channel>"
    return f'<?xml version="1.0"?><rss version="2.0">{channel}</rss>'.encode()


def main() -> int:
    raw = feed()
    with tempfile.TemporaryDirectory() as folder:
        engine = Engine.open(folder, reader=False)
        try:
            start = time.perf_counter()
            first = engine.import_file("wire.rss", raw)
            took = time.perf_counter() - start
            print(
                f"first read: {len(first)} entries, {sum(w.passages for w in first)} passages, {took:.2f} s"
            )
            for _ in range(5):
                start = time.perf_counter()
                again = engine.import_file("wire.rss", raw)
                took = time.perf_counter() - start
                statuses = sorted({w.status or "" for w in again})
                print(f"read again: {took * 1000:.0f} ms, every entry {', '.join(statuses)}")
        finally:
            engine.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
