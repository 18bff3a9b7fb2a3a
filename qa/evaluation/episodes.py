"""Multi-passage reading episodes from SQuAD *train*, retrieved with our own retriever.

    python -m qa.evaluation.episodes --train ../shared/data/squad/train-v1.1.json \\
        --out data/reader-train/episodes.jsonl [--skip-books 2 --books 4 --articles 48]

Each episode is one answerable question with its gold paragraph and the passages our hybrid
retriever ranks beside it in an open book (the gold article among others), as the service
would read them. The reader is fine-tuned on these (``qa.reading.train --episodes``) with
shared normalization over the episode's passages.

Train's articles are shuffled exactly as ``qa.evaluation.fit`` shuffles them; the first
``--skip-books`` books are the ones the answer scorer is fitted on, so they are skipped and
the scorer is fitted on questions the new reader has not been tuned on. Passages that
contain a gold answer string are never used as distractors (they may state the answer).
Written once; a rerun with the file present does nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
from pathlib import Path
from typing import Any

from qa.evaluation.open_squad import open_book, open_engine

log = logging.getLogger("qa.evaluation.episodes")


def gold_paragraphs(article: dict[str, Any]) -> dict[str, tuple[str, list[tuple[str, int]]]]:
    """Question id -> (paragraph text, gold answers as (text, start)) for one article."""
    out = {}
    for paragraph in article["paragraphs"]:
        raw = paragraph["context"]
        context = raw.strip()
        shift = len(raw) - len(raw.lstrip())  # open_book stores stripped paragraphs
        for qa in paragraph["qas"]:
            answers = [(a["text"], int(a["answer_start"]) - shift) for a in qa["answers"]]
            out[qa["id"]] = (context, answers)
    return out


def book_episodes(
    engine: object, book: object, golds: dict[str, Any], distractors: int, depth: int
) -> list[dict[str, Any]]:
    """One record per answerable question of ``book``."""
    out = []
    for e in book.answerable:  # type: ignore[attr-defined]
        context, answers = golds[e.qid]
        ranked = engine.retrieve(e.question, depth)  # type: ignore[attr-defined]
        others = []
        for p in ranked:
            text = p.text
            if text == context or any(a.lower() in text.lower() for a, _ in answers):
                continue
            others.append(text)
        rank = next((i for i, p in enumerate(ranked) if p.text == context), None)
        out.append(
            {
                "qid": e.qid,
                "question": e.question,
                "context": context,
                "answers": answers,
                "distractors": others[:distractors],
                "gold_rank": rank,
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("data/reader-train/episodes.jsonl"))
    parser.add_argument("--work", type=Path, default=Path("data/reader-train/books"))
    parser.add_argument("--articles", type=int, default=48, help="articles per open book (as fit)")
    parser.add_argument("--skip-books", type=int, default=2, help="books the scorer is fitted on")
    parser.add_argument("--books", type=int, default=4)
    parser.add_argument("--distractors", type=int, default=4)
    parser.add_argument("--depth", type=int, default=10, help="passages retrieved per question")
    parser.add_argument("--seed", type=int, default=0, help="the shuffle seed of qa.evaluation.fit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    if args.out.exists():
        log.info("%s exists: nothing to do", args.out)
        return 0
    with open(args.train, encoding="utf-8") as fh:
        data = json.load(fh)["data"]
    articles = sorted(data, key=lambda a: a["title"])
    random.Random(args.seed).shuffle(articles)
    records: list[dict[str, Any]] = []
    for b in range(args.skip_books, args.skip_books + args.books):
        chunk = articles[b * args.articles : (b + 1) * args.articles]
        if not chunk:
            break
        book = open_book(chunk, seed=args.seed)
        golds = {qid: g for a in chunk for qid, g in gold_paragraphs(a).items()}
        engine = open_engine(book, args.work)
        try:
            part = book_episodes(engine, book, golds, args.distractors, args.depth)
        finally:
            engine.close()
        found = sum(r["gold_rank"] is not None for r in part) / max(1, len(part))
        log.info(
            "book %d: %d episodes, gold paragraph retrieved in the top %d for %.3f",
            b,
            len(part),
            args.depth,
            found,
        )
        records += part
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    tmp.replace(args.out)
    log.info("wrote %d episodes to %s", len(records), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
