"""``qa eval``: end-to-end figures on a questions file, or the reader alone on SQuAD.

Questions file: JSON lines with ``question``, ``answers`` (accepted strings; empty means
the corpus does not hold the answer) and ``docs`` (doc_id prefixes that state it).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from index.hardware import available_cores
from index.lexical import prefix_terms
from qa.settings import Settings
from qa.squad import best_score, load_squad


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _holds(text: str, answers: list[str]) -> bool:
    lowered = text.lower()
    return any(a.lower() in lowered for a in answers)


def evaluate_questions(engine: Any, rows: list[dict], top_k: int, retrieval_only: bool) -> dict:
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


def evaluate_squad(reader: Any, path: Path, limit: int = 0) -> dict:
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


def evaluate_abstention(reader: Any, path: Path, limit: int = 2000, seed: int = 7) -> dict:
    """Calibrate abstention on SQuAD. Each question is read against its own paragraph and
    against another paragraph of the same article that does not contain any of its answers
    (same topic, no answer: the hard case). Scores are the engine's citation scores (reader
    confidence times the passage's lexical evidence, IDF over the file's paragraphs); for
    each threshold: share of the former answered, of the latter abstained."""
    from index.lexical import LexicalIndex
    from qa.answers import citation_score
    from qa.engine import passage_evidence
    from qa.proximity import query_pairs

    rng = random.Random(seed)
    examples = load_squad(path)
    by_title: dict[str, list[str]] = {}
    for e in examples:
        if e.context not in by_title.setdefault(e.title, []):
            by_title[e.title].append(e.context)
    contexts = sorted({e.context for e in examples})
    lexical = LexicalIndex()
    lexical.build(np.arange(len(contexts)), contexts)
    rng.shuffle(examples)
    pairs = []
    for e in examples:
        golds = [a for a, _ in e.answers]
        others = [c for c in by_title[e.title] if not any(g in c for g in golds)]
        if others:
            pairs.append((e, rng.choice(others)))
        if len(pairs) == limit:
            break
    questions = [e.question for e, _ in pairs]

    def scores(texts: list[str]) -> list[float]:
        spans = reader.best_answers(questions, texts)
        out = []
        for q, text, span in zip(questions, texts, spans, strict=True):
            weights = lexical.prefix_idf(set(prefix_terms(q)))
            evidence = passage_evidence(weights, query_pairs(q), text)
            out.append(citation_score(span.confidence, evidence) if span else 0.0)
        return out

    pos = scores([e.context for e, _ in pairs])
    neg = scores([other for _, other in pairs])
    table: dict[str, Any] = {"pairs": len(pairs)}
    for tau in (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5):
        answered = sum(c >= tau for c in pos) / len(pos)
        abstained = sum(c < tau for c in neg) / len(neg)
        table[f"tau={tau:.2f}"] = (
            f"answers {answered:.3f} of answerable, abstains on {abstained:.3f} of unanswerable"
        )
    return table


def _print(report: dict) -> None:
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
    from qa.reader import Reader

    settings = Settings()
    if args.data_dir:
        settings.data_dir = Path(args.data_dir)
    if args.target == "squad":
        if not args.file:
            raise InvalidRequest("usage: qa eval squad FILE.json")
        reader = Reader(settings.reader_path, precision=settings.reader_precision, threads=available_cores())
        if args.abstention:
            _print(evaluate_abstention(reader, Path(args.file), args.limit or 2000))
        else:
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
