"""``qa search`` and ``qa ask`` (one question, or a file of them): through the service,
or with ``--local`` through the engine here."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from qa.cli import render
from qa.cli.common import client, dates, dump, local_engine, read_regular, show
from qa.client import Client
from qa.errors import QAError


def cmd_search(args: argparse.Namespace) -> int:
    if args.local:
        with local_engine(args, reader=False) as engine:
            reply = dump(engine.search(args.question, args.k, **dates(args)))
    else:
        with client(args) as remote:
            reply = dump(remote.search(args.question, args.k, **dates(args)))
    show(reply, args.json, render.passages)
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    if args.file:
        return _ask_file(args)
    if not args.question:
        raise QAError("give a question, or --file FILE with one question per line")
    if args.local:
        with local_engine(args, reader=True) as engine:
            reply = dump(engine.ask(args.question, args.top_k, args.max_answers, **dates(args)))
    else:
        with client(args) as remote:
            reply = dump(remote.ask(args.question, args.top_k, args.max_answers, **dates(args)))
    show(reply, args.json, render.answers)
    return 0


def _ask_file(args: argparse.Namespace) -> int:
    """One question per line of a file (``-``: standard input), asked in batches of
    ``MAX_BATCH``; with --json, one JSON reply per line. Lines are split at newlines only
    (a U+2028 inside a question stays in it); a line that cannot be a question is named by
    its number and skipped, and the exit code says some were."""
    from qa.schemas import MAX_BATCH

    name = "<stdin>" if args.file == "-" else args.file
    try:
        raw = (
            sys.stdin.buffer.read(MAX_QUESTIONS_FILE + 1)
            if args.file == "-"
            else read_regular(Path(args.file), MAX_QUESTIONS_FILE)
        )
        if len(raw) > MAX_QUESTIONS_FILE:
            raise QAError(f"{name}: more than {MAX_QUESTIONS_FILE:,} bytes of questions; split the file")
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise QAError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    questions, bad = question_lines(text)
    for line, reason in bad:
        print(f"qa: {name}:{line}: {reason}; skipped", file=sys.stderr)
    if not questions:
        raise QAError(f"{name}: no questions in it")
    engine = local_engine(args, reader=True) if args.local else None
    remote = None if engine else client(args)
    failed = len(bad)
    try:
        for lo in range(0, len(questions), MAX_BATCH):
            part = questions[lo : lo + MAX_BATCH]
            texts = [q for _, q in part]
            if engine is not None:
                replies: list[dict[str, Any] | None] = dump(
                    engine.ask_batch(texts, args.top_k, args.max_answers)
                )
            else:
                assert remote is not None
                replies = _ask_part(remote, name, part, args)
            for reply in replies:
                if reply is None:
                    failed += 1
                elif args.json:
                    print(json_line(reply))
                else:
                    print(f"Q: {reply['question']}")
                    show(reply, False, render.answers)
    finally:
        if engine is not None:
            engine.close()
        if remote is not None:
            remote.close()
    if failed:
        print(f"qa: {failed} line(s) of {name} were not asked", file=sys.stderr)
    return 1 if failed else 0


MAX_QUESTIONS_FILE = 10_000_000


def json_line(reply: dict[str, Any]) -> str:
    """One JSON Lines record: U+2028 and U+2029 escaped, since many line readers (Python's
    ``str.splitlines`` among them) end a line there."""
    return json.dumps(reply, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def question_lines(text: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(line number, question) for each question line, and (line number, reason) for each
    line that cannot be one. Blank lines are neither."""
    from qa.schemas import MAX_QUESTION_CHARS

    good, bad = [], []
    for number, line in enumerate(text.split("\n"), start=1):
        question = line.strip()
        if not question:
            continue
        if len(question) > MAX_QUESTION_CHARS:
            bad.append(
                (number, f"the question is {len(question):,} characters; the limit is {MAX_QUESTION_CHARS:,}")
            )
        else:
            good.append((number, question))
    return good, bad


def _ask_part(
    remote: Client, name: str, part: list[tuple[int, str]], args: argparse.Namespace
) -> list[dict[str, Any] | None]:
    """Replies to a batch; when the service refuses it, each question alone, so that the
    one it refuses is named by its line and the others are still answered."""
    try:
        return list(dump(remote.ask_batch([q for _, q in part], args.top_k, args.max_answers)))
    except QAError as exc:
        if _not_the_lines(exc):
            raise
    replies: list[dict[str, Any] | None] = []
    for line, question in part:
        try:
            replies.append(dump(remote.ask(question, args.top_k, args.max_answers)))
        except QAError as exc:
            if _not_the_lines(exc):
                raise
            print(f"qa: {name}:{line}: {exc}; skipped", file=sys.stderr)
            replies.append(None)
    return replies


def _not_the_lines(exc: QAError) -> bool:
    """The service's trouble (unreachable, 5xx, 429), not something a line asked."""
    return exc.status is None or exc.status >= 500 or exc.status == 429
