"""The ``qa`` command line: every command, its arguments and the function that runs it."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from qa.cli import agents, backup, feeds, fit, measure, reading, serve, writing
from qa.cli.common import DEFAULT_URL, local_engine


def at_least_one(text: str) -> int:
    """A count of 1 or more, as a command-line value."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("newsqa")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qa", description="Question answering over a news corpus.")
    parser.add_argument("--version", action="version", version=f"qa (newsqa) {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    default_url = os.environ.get("QA_URL", DEFAULT_URL)
    url_help = "service URL (env QA_URL)"

    def connection(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", default=default_url, help=url_help)
        p.add_argument(
            "--api-key",
            default=os.environ.get("QA_API_KEY"),
            help="the service's API key, sent as 'Authorization: Bearer' (env QA_API_KEY)",
        )

    def dates(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--published-after", metavar="DATE", help="only articles published on or after (2021-07-05)"
        )
        p.add_argument("--published-before", metavar="DATE", help="only articles published on or before")

    p = sub.add_parser("serve", help="start the HTTP service (builds the index on first start)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    p.add_argument(
        "--corpus",
        help="folder of news files to keep in step (default: QA_CORPUS, or seeds/ unless the "
        "data dir was built from another folder with `qa index`)",
    )
    p.add_argument("--data-dir", help="index folder (default: QA_DATA_DIR or data/)")
    p.set_defaults(func=serve.cmd_serve)

    p = sub.add_parser("search", help="ranked passages for a question")
    p.add_argument("question")
    p.add_argument("-k", type=int, default=5, help="passages to return (1-50, default 5)")
    dates(p)
    connection(p)
    p.add_argument("--json", action="store_true", help="print the raw JSON reply")
    _local_arguments(p)
    p.set_defaults(func=reading.cmd_search)

    p = sub.add_parser("ask", help="answers with citations for a question")
    p.add_argument("question", nargs="?", help="a question in plain English, quoted")
    p.add_argument("--file", help="ask every line of this file instead (- for standard input)")
    p.add_argument("--top-k", type=int, default=5, help="passages to read, 1 to 50 (default 5)")
    p.add_argument("--max-answers", type=int, default=3, help="answers to show at most, 1 to 20 (default 3)")
    dates(p)
    connection(p)
    p.add_argument("--json", action="store_true", help="print the raw JSON reply")
    _local_arguments(p)
    p.set_defaults(func=reading.cmd_ask)

    p = sub.add_parser(
        "index",
        help="(re)build the index from a folder of news files (.txt/.md, .html, .rss/.atom/.xml, .jsonl)",
    )
    p.add_argument("directory", type=Path)
    p.add_argument("--data-dir", help="index folder (default: QA_DATA_DIR or data/)")
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="leave out files that cannot be documents (not UTF-8, binary, bad names) and list them",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="embed passages on Ray workers: a cluster's address (ray://host:10001 or host:6379), "
        "or none for a local Ray on 127.0.0.1 (pip install 'newsqa[scale]')",
    )
    p.add_argument("--ray-workers", type=int, help="embedding actors (default: the cluster's CPUs / threads)")
    p.add_argument("--ray-threads", type=int, default=1, help="CPU threads per embedding actor")
    p.add_argument(
        "--ray-gpus",
        type=float,
        default=0.0,
        help="GPUs per embedding actor (0: embed on CPUs; 1: one GPU each)",
    )
    p.add_argument(
        "--ray-timeout",
        type=float,
        default=300.0,
        help="seconds to wait for the actors to be placed, and for any one batch (default 300)",
    )
    p.add_argument(
        "--ray-chunk",
        type=at_least_one,
        default=writing.RAY_CHUNK,
        help=f"documents embedded and written at a time with --ray (default {writing.RAY_CHUNK}): "
        "a failure loses at most one chunk, and a rerun resumes after the last written",
    )
    p.add_argument(
        "--shard",
        metavar="I/N",
        help="index only shard I of N of the folder (by doc_id): run N drivers side by side, one shard each",
    )
    p.set_defaults(func=writing.cmd_index)

    p = sub.add_parser(
        "add",
        help="add news files to a running service: text (id: the file name), HTML, "
        "RSS/Atom feeds, JSON Lines",
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--replace", action="store_true", help="overwrite documents with the same id")
    p.add_argument(
        "--strict",
        action="store_true",
        help="refuse a whole feed or JSON Lines file for one bad entry (default: leave it out, say so)",
    )
    p.add_argument("--title", help="the article's headline (one file; otherwise detected in the text)")
    p.add_argument("--published", metavar="DATE", help="its publication date, ISO 8601 (2021-07-05)")
    p.add_argument("--source", help="the outlet that published it")
    p.add_argument("--url", dest="article_url", help="its address")
    p.add_argument(
        "--max-bytes",
        type=int,
        default=int(os.environ.get("QA_MAX_DOCUMENT_BYTES", "5000000")),
        help="refuse larger files before sending them (default: the service's default limit, "
        "or QA_MAX_DOCUMENT_BYTES)",
    )
    p.add_argument("--service", dest="url", default=default_url, help=url_help)
    p.add_argument(
        "--api-key",
        default=os.environ.get("QA_API_KEY"),
        help="the service's API key (env QA_API_KEY)",
    )
    p.set_defaults(func=writing.cmd_add)

    p = sub.add_parser("delete", help="delete documents from a running service")
    p.add_argument("doc_ids", nargs="+", metavar="DOC_ID")
    connection(p)
    p.set_defaults(func=writing.cmd_delete)
    feeds.register(sub, connection)
    backup.register(sub, connection, local_engine)
    agents.register(sub, local_engine)
    fit.register(sub)

    p = sub.add_parser(
        "eval",
        help="measure: `qa eval FILE.jsonl` end to end, `qa eval squad FILE` the reader alone, "
        "`qa eval open-squad FILE` the open-book benchmark, `qa eval news DIR` real news pages, "
        "`qa eval articles DIR` the headline and date read from each page",
    )
    p.add_argument("target", help="a questions .jsonl file, 'squad', 'open-squad', 'news' or 'articles'")
    p.add_argument(
        "file",
        nargs="?",
        help="with 'squad' or 'open-squad': a SQuAD v1.1 JSON file; with 'news': the folder of "
        "news_dev.jsonl, ground-truth.json and pages/ (default ../shared/eval/news)",
    )
    p.add_argument(
        "--mode",
        choices=("text", "pages", "both"),
        default="both",
        help="news: index the bodies as text, import the HTML pages, or both",
    )
    p.add_argument(
        "--misses", action="store_true", help="news: list every question missed; articles: every field"
    )
    p.add_argument("--corpus", default="seeds")
    p.add_argument("--data-dir")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument(
        "--limit",
        type=int,
        default=0,
        help="only the first N questions (open-squad: N answerable and N unanswerable, sampled)",
    )
    p.add_argument("--seed", type=int, default=0, help="open-squad: how articles are split and sampled")
    p.add_argument(
        "--on-topic",
        type=int,
        default=500,
        help="open-squad: on-topic questions without an answer, each way (0: none)",
    )
    p.add_argument("--json", help="open-squad, news: also write the figures to this JSON file")
    p.add_argument("--retrieval-only", action="store_true")
    p.set_defaults(func=measure.cmd_eval)
    return parser


def _local_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--local", action="store_true", help="run the engine here, without a server")
    p.add_argument(
        "--corpus",
        help="with --local: folder of news files (default: seeds/, unless the data dir was "
        "built from another folder)",
    )
    p.add_argument("--data-dir", help="with --local: index folder")
