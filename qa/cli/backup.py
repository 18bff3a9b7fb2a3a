"""``qa export FILE``: every document of a running service (or, with ``--local``, of a data
directory) as JSON Lines, written whole or not at all; ``qa add FILE`` restores it."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qa.client import Client


def cmd_export(args: argparse.Namespace) -> int:
    if args.local:
        with args.open_local(args, reader=False, sync=False) as engine:
            n = _write(args.file, (d.model_dump_json(exclude_defaults=True) for d in engine.export()))
    elif args.file == "-":
        with Client(args.url, api_key=args.api_key, timeout=300) as client:
            n = _write("-", client.export_lines())
    else:
        with Client(args.url, api_key=args.api_key, timeout=300) as client:
            n = client.export_to(args.file)
    if args.file != "-":
        print(f"{n:,} document{'' if n == 1 else 's'} written to {args.file} (restore: qa add {args.file})")
    return 0


def _write(file: str, lines: Any) -> int:
    """Lines to stdout (``-``), or to ``file`` through a temporary file renamed at the end."""
    if file == "-":
        n = 0
        for line in lines:
            sys.stdout.write(line + "\n")
            n += 1
        return n
    target = Path(file)
    partial = target.with_name(f".{target.name}.partial")
    n = 0
    try:
        with open(partial, "w", encoding="utf-8") as out:
            for line in lines:
                out.write(line + "\n")
                n += 1
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
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
