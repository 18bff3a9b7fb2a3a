"""``qa follow``, ``qa feeds``, ``qa unfollow``: the feeds a running service follows."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable

from qa.cli.common import client, dump

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def every(text: str) -> int:
    """Seconds of an interval written ``90s``, ``10m``, ``2h``, ``1d`` or ``600``."""
    found = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text.lower())
    if not found:
        raise argparse.ArgumentTypeError(f"{text!r} is not an interval (10m, 2h, 600)")
    return int(found.group(1)) * _UNITS[found.group(2) or "s"]


def cmd_follow(args: argparse.Namespace) -> int:
    with client(args) as remote:
        feed = dump(remote.follow(args.feed_url, args.every))
    print(f"{feed['feed_id']}: following {feed['url']} every {_interval(feed['interval_s'])}")
    return 0


def cmd_feeds(args: argparse.Namespace) -> int:
    with client(args) as remote:
        feeds = dump(remote.feeds())
    if not feeds:
        print("no feeds followed (qa follow URL)")
    for f in feeds:
        status = f"error ({f['failures']} in a row): {f['last_error']}" if f.get("last_error") else "ok"
        print(
            f"{f['feed_id']}  {f['url']}\n"
            f"    every {_interval(f['interval_s'])}; last read {f.get('last_fetched') or 'not yet'}; "
            f"last new entry {f.get('last_new_entry') or 'none yet'}; {_entries(f['entries'])}, "
            f"{f['added_entries']} added since followed; {status}"
        )
    return 0


def cmd_unfollow(args: argparse.Namespace) -> int:
    with client(args) as remote:
        for feed_id in args.feed_ids:
            remote.unfollow(feed_id)
            print(f"{feed_id}: no longer followed (its entries stay)")
    return 0


def _entries(n: int) -> str:
    return f"{n} entr{'y' if n == 1 else 'ies'}"


def _interval(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    connection: Callable[[argparse.ArgumentParser], None],
) -> None:
    p = sub.add_parser(
        "follow", help="have a running service follow a feed URL (read now, then every --every)"
    )
    p.add_argument("feed_url", metavar="URL", help="an http(s) RSS, Atom or RDF feed")
    p.add_argument(
        "--every", type=every, default=None, help="how often to read it: 10m (default), 1h, 90s..."
    )
    connection(p)
    p.set_defaults(func=cmd_follow)
    p = sub.add_parser("feeds", help="the feeds a running service follows, with how their reads went")
    connection(p)
    p.set_defaults(func=cmd_feeds)
    p = sub.add_parser("unfollow", help="stop following feeds (their entries stay)")
    p.add_argument("feed_ids", nargs="+", metavar="FEED_ID")
    connection(p)
    p.set_defaults(func=cmd_unfollow)
