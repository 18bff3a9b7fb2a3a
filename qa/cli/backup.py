"""``qa export FILE``: every document of a running service (or, with ``--local``, of a data
directory) as JSON Lines, written whole or not at all; ``qa add FILE`` restores it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from typing import Any

from qa.cli.common import client
from qa.client import write_whole


def cmd_export(args: argparse.Namespace) -> int:
    if args.local:
        with args.open_local(args, reader=False, sync=False) as engine:
            n = _write(args.file, (d.model_dump_json(exclude_defaults=True) for d in engine.export()))
    else:
        with client(args, timeout=300) as remote:
            n = _write(args.file, remote.export_lines())
    if args.file != "-":
        print(f"{n:,} document{'' if n == 1 else 's'} written to {args.file} (restore: qa add {args.file})")
    return 0


def _write(file: str, lines: Iterable[str]) -> int:
    """Lines to stdout (``-``), or to ``file`` whole or not at all."""
    if file != "-":
        return write_whole(file, lines)
    n = 0
    for line in lines:
        sys.stdout.write(line + "\n")
        n += 1
    return n


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    connection: Callable[[argparse.ArgumentParser], None],
    open_local: Callable[..., Any],
) -> None:
    p = sub.add_parser(
        "export",
        help="write every document as JSON Lines, whole or not at all: a backup that `qa add FILE` restores",
    )
    p.add_argument("file", metavar="FILE", help="where to write (- for standard output)")
    connection(p)
    p.add_argument("--local", action="store_true", help="read a data directory here, without a server")
    p.add_argument("--data-dir", help="with --local: the data directory (default: QA_DATA_DIR or data/)")
    p.set_defaults(func=cmd_export, open_local=open_local)
