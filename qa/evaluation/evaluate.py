"""``qa eval``: end-to-end figures on a questions file, the reader alone on SQuAD
(``qa eval squad FILE``), or the open-book SQuAD benchmark (``qa eval open-squad FILE``).

Questions file: JSON lines with ``question``, ``answers`` (accepted strings; empty means
the corpus does not hold the answer) and ``docs`` (doc_id prefixes that state it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from index.hardware import available_cores
from qa.reading.squad import best_score, load_squad
from qa.settings import Settings


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _holds(text: str, answers: list[str]) -> bool:
    lowered = text.lower()
    return any(a.lower() in lowered for a in answers)


def evaluate_questions(
    engine: Any, rows: list[dict[str, Any]], top_k: int, retrieval_only: bool
) -> dict[str, Any]:
    answerable = [r for r in rows if r["answers"]]
    report: dict[str, Any] = {"questions": len(rows), "answerable": len(answerable)}
    for mode in ("dense", "lexical", "hybrid"):
        hits1 = hitsk = 0
        for r in answerable:
            ranked = engine.retrieve(r["question"], top_k, mode=mode)
            hits1 += bool(ranked) and _holds(ranked[0].text, r["answers"])
            hitsk += any(_holds(p.text, r["answers"]) for p in ranked)
        n = max(1, len(answerable))
        report[f"{mode}_recall@1"] = hits1 / n
        report[f"{mode}_recall@{top_k}"] = hitsk / n
    if retrieval_only or engine.reader is None:
        return report
    em = f1 = abstained = cited = 0.0
    latencies, misses = [], []
    engine.ask(rows[0]["question"], top_k)  # warm-up
    for r in rows:
        t0 = time.perf_counter()
        reply = engine.ask(r["question"], top_k)
        latencies.append((time.perf_counter() - t0) * 1000)
        top = reply.answers[0] if reply.answers else None
        if not r["answers"]:
            abstained += top is None
            if top is not None:
                misses.append(f"{r.get('id', '')}: answered {top.text!r}, expected no answer")
            continue
        e, f = best_score(top.text, r["answers"]) if top else (0.0, 0.0)
        em, f1 = em + e, f1 + f
        if e < 1:
            misses.append(f"{r.get('id', '')}: {top.text if top else None!r} vs {r['answers'][0]!r}")
        if top and r.get("docs"):
            docs = {c.doc_id for c in top.citations}
            cited += sum(any(d.startswith(p) for d in docs) for p in r["docs"]) / len(r["docs"])
    n = max(1, len(answerable))
    unanswerable = len(rows) - len(answerable)
    report.update(
        {
            "top1_em": em / n,
            "top1_f1": f1 / n,
            "supporting_docs_cited": cited / n,
            "abstained": f"{int(abstained)}/{unanswerable}",
            "ask_p50_ms": statistics.median(latencies),
            "ask_p95_ms": _percentile(latencies, 0.95),
            "misses": misses,
        }
    )
    return report


def evaluate_squad(reader: Any, path: Path, limit: int = 0) -> dict[str, Any]:
    """EM/F1 of the reader alone, gold paragraph given, max over gold answers."""
    examples = load_squad(path)
    if limit:
        examples = examples[:limit]
    t0 = time.perf_counter()
    em = f1 = 0.0
    for lo in range(0, len(examples), 512):
        part = examples[lo : lo + 512]
        spans = reader.best_answers([e.question for e in part], [e.context for e in part])
        for example, span in zip(part, spans, strict=True):
            e, f = best_score(span.text if span else "", [a for a, _ in example.answers])
            em, f1 = em + e, f1 + f
    seconds = time.perf_counter() - t0
    n = max(1, len(examples))
    return {
        "questions": len(examples),
        "em": 100 * em / n,
        "f1": 100 * f1 / n,
        "questions_per_s": len(examples) / seconds,
    }


def _print(report: dict[str, Any]) -> None:
    for key, value in report.items():
        if key == "misses":
            for line in value:
                print(f"  miss {line}")
        elif isinstance(value, float):
            print(f"{key:>24}: {value:.3f}")
        else:
            print(f"{key:>24}: {value}")


def main(args: argparse.Namespace) -> int:
    from qa.engine import Engine
    from qa.errors import InvalidRequest
    from qa.reading.reader import Reader

    settings = Settings()
    if args.data_dir:
        settings.data_dir = Path(args.data_dir)
    if args.target == "articles":
        from qa.evaluation import articles

        folder = Path(args.file or "../shared/eval/news")
        if not (folder / "pages").is_dir():
            raise InvalidRequest(f"{folder}: no pages/ there (usage: qa eval articles DIR)")
        report = articles.run(folder, args.misses)
        articles.show(report)
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        return 0
    if args.target == "news":
        from qa.evaluation import news

        folder = Path(args.file or "../shared/eval/news")
        if not (folder / "news_dev.jsonl").is_file():
            raise InvalidRequest(f"{folder}: no news_dev.jsonl there (usage: qa eval news DIR)")
        modes = news.MODES if args.mode == "both" else (args.mode,)
        results = news.run(folder, modes, settings.data_dir / "eval", args.top_k, args.misses, args.limit)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        return 0
    if args.target == "open-squad":
        if not args.file:
            raise InvalidRequest("usage: qa eval open-squad FILE.json")
        return open_squad_main(args, settings)
    if args.target == "squad":
        if not args.file:
            raise InvalidRequest("usage: qa eval squad FILE.json")
        reader = Reader(settings.reader_path, precision=settings.reader_precision, threads=available_cores())
        _print(evaluate_squad(reader, Path(args.file), args.limit))
        return 0
    path = Path(args.target)
    if not path.is_file():
        raise InvalidRequest(f"{path}: no such questions file")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if args.limit:
        rows = rows[: args.limit]
    settings.corpus = Path(args.corpus)
    settings.reader = not args.retrieval_only
    with Engine(settings) as engine:
        _print(evaluate_questions(engine, rows, args.top_k, args.retrieval_only))
    return 0


def open_squad_main(args: argparse.Namespace, settings: Settings) -> int:
    """Retrieval recall per mode, end-to-end scores and the calibration of the answer score."""
    from qa.evaluation import open_squad
    from qa.reading.scorer import calibration_lines, expected_calibration_error

    book = open_squad.load_open_book(Path(args.file), seed=args.seed)
    episodes = book.sample(args.limit, seed=args.seed)
    episodes += book.on_topic(args.on_topic, seed=args.seed) if args.on_topic else []
    engine = open_squad.open_engine(book, settings.data_dir / "eval")
    try:
        print(
            f"open book from {Path(args.file).name}: {len(book.documents)} articles in the corpus, "
            f"{sum(bool(e.answers) for e in episodes)} answerable and "
            f"{sum(not e.answers and not e.on_topic for e in episodes)} unanswerable questions about "
            f"articles not in it, {sum(bool(e.on_topic) for e in episodes)} on topic without an answer "
            "(the passages stating it removed, or the question's name, number or date swapped)"
        )
        report: dict[str, Any] = open_squad.retrieval_recall(engine, episodes)
        _print(report)
        if args.retrieval_only:
            return 0
        outcomes = open_squad.ask_all(engine, episodes, args.top_k)
        summary = open_squad.summarize(outcomes)
        _print(summary)
        answered = [o for o in outcomes if o.answer is not None and not o.episode.on_topic]
        predicted = np.array([o.probability for o in answered])
        observed = np.array([open_squad.right(o) for o in answered])
        print(
            f"calibration of the top answers given ({len(answered)}; right: F1 >= 0.5), "
            f"ECE {expected_calibration_error(predicted, observed):.3f}:"
        )
        print("\n".join(calibration_lines(predicted, observed)))
        if args.json:
            Path(args.json).write_text(json.dumps({**report, **summary}, indent=2) + "\n")
    finally:
        engine.close()
    return 0
