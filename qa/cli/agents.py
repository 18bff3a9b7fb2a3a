"""``qa mcp``: the service's tools for an LLM agent over stdio (``qa.agents.mcp``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def cmd_mcp(args: argparse.Namespace, local_engine: Callable[[argparse.Namespace, bool], Any]) -> int:
    from qa.agents.mcp import serve_stdio

    args.local = True
    with local_engine(args, True) as engine:
        serve_stdio(engine, allow_writes=args.writable)
    return 0


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    local_engine: Callable[[argparse.Namespace, bool], Any],
) -> None:
    p = sub.add_parser(
        "mcp",
        help="serve ask / search / get_document to an LLM agent over stdio (Model Context Protocol); "
        "the same tools are at /mcp of `qa serve`",
    )
    p.add_argument("--data-dir", help="index folder (default: QA_DATA_DIR or data/)")
    p.add_argument("--corpus", help="folder of news files to keep in step (as for qa serve)")
    p.add_argument("--writable", action="store_true", help="offer add_document too")
    p.set_defaults(func=lambda args: cmd_mcp(args, local_engine))
