"""``qa eval news DIR``: real news pages and questions about them (``../shared/eval/news``).

Two ways in: *text* indexes each page's ground-truth body as a plain-text document (doc_id:
the page id), which measures retrieval and reading alone; *pages* imports the HTML pages
through the product's own HTML import, which measures the path a user takes. Scored as
SQuAD v1.1 is (normalized EM and token F1, max over the accepted answers), with the
unanswerable questions counting 1 when abstained on in ``overall``. A validation set: it
measures and compares designs; nothing is fitted on it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.reading.scorer import calibration_lines, expected_calibration_error
from qa.reading.squad import best_score

MODES = ("text", "pages")


@dataclass(frozen=True)
class NewsSet:
    bodies: dict[str, str]  # page id -> ground-truth body
    pages: dict[str, bytes]  # page id -> HTML as served
    questions: list[dict[str, Any]]


def load(folder: Path) -> NewsSet:
    truth = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    bodies = {page: str(item["body"]) for page, item in sorted(truth.items())}
    pages = {
        p.name.split(".")[0]: gzip.decompress(p.read_bytes())
        for p in sorted((folder / "pages").glob("*.html.gz"))
    }
    lines = (folder / "news_dev.jsonl").read_text(encoding="utf-8").splitlines()
    return NewsSet(bodies, pages, [json.loads(line) for line in lines if line.strip()])


def open_engine(news: NewsSet, mode: str, work: Path, **overrides: Any) -> Any:
    """An engine over the set's pages in ``mode``, built once in ``work`` and reused."""
    from qa.engine import Engine
    from qa.settings import Settings

    items = news.bodies if mode == "text" else news.pages
    digest = hashlib.sha256()
    # What is read of a page depends on the extraction and splitting code too: a change to
    # either builds a fresh index instead of measuring a stale one.
    import index.text.article
    import index.text.formats
    import index.text.page_meta
    import index.text.paragraphs

    for module in (index.text.article, index.text.formats, index.text.page_meta, index.text.paragraphs):
        digest.update(Path(module.__file__ or "").read_bytes())
    for page, content in items.items():
        digest.update(page.encode() + (content.encode() if isinstance(content, str) else content))
    settings = Settings(data_dir=work / f"news-{mode}-{digest.hexdigest()[:12]}", corpus=None, **overrides)
    engine = Engine(settings)
    if engine.health().documents == 0:
        for page, content in items.items():
            try:
                if mode == "text":
                    engine.add(page, str(content))
                else:
                    engine.add(page, content, format="html")
            except Exception as exc:  # a page the import refuses loses its answers, as for a user
                print(f"  {page}: not imported ({exc})")
    return engine


@dataclass
class Asked:
    row: dict[str, Any]
    answer: str | None
    score: float
    em: float
    f1: float
    ms: float
    recall: bool  # a passage of a listed doc stating an accepted answer in the top k


def ask_all(engine: Any, rows: Sequence[dict[str, Any]], top_k: int, warm: bool = True) -> list[Asked]:
    out = []
    if warm:
        engine.ask(rows[0]["question"], top_k)
    for r in rows:
        t0 = time.perf_counter()
        reply = engine.ask(r["question"], top_k)
        ms = (time.perf_counter() - t0) * 1000
        top = reply.answers[0] if reply.answers else None
        em, f1 = best_score(top.text, r["answers"]) if top and r["answers"] else (0.0, 0.0)
        docs = set(r.get("docs", []))
        recall = any(
            p.doc_id in docs and any(a.lower() in p.text.lower() for a in r["answers"])
            for p in reply.passages
        )
        out.append(Asked(r, top.text if top else None, top.score if top else 0.0, em, f1, ms, recall))
    return out


def summarize(asked: Sequence[Asked]) -> dict[str, Any]:
    answerable = [a for a in asked if a.row["answers"]]
    unanswerable = [a for a in asked if not a.row["answers"]]
    na, nu = max(1, len(answerable)), max(1, len(unanswerable))
    abstained = sum(a.answer is None for a in unanswerable)
    ms = [a.ms for a in asked]
    return {
        "questions": len(asked),
        "em": sum(a.em for a in answerable) / na,
        "f1": sum(a.f1 for a in answerable) / na,
        "answered": sum(a.answer is not None for a in answerable) / na,
        "abstained": abstained / nu,
        "overall": (sum(a.f1 for a in answerable) + abstained) / max(1, len(asked)),
        "recall@k": sum(a.recall for a in answerable) / na,
        "ask_p50_ms": float(np.percentile(ms, 50)),
    }


def per_kind(asked: Sequence[Asked]) -> dict[str, tuple[int, float]]:
    """F1 of the answerable questions of each kind: kind -> (questions, F1)."""
    groups: dict[str, list[float]] = defaultdict(list)
    for a in asked:
        if a.row["answers"]:
            groups[a.row.get("kind", "other")].append(a.f1)
    return {k: (len(v), sum(v) / len(v)) for k, v in sorted(groups.items())}


def table(results: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| mode | EM | F1 | answered | abstained | overall | R@k | ask p50 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mode, s in results.items():
        lines.append(
            f"| {mode} | {s['em']:.3f} | {s['f1']:.3f} | {s['answered']:.3f} | {s['abstained']:.3f} "
            f"| {s['overall']:.3f} | {s['recall@k']:.3f} | {s['ask_p50_ms']:.0f} |"
        )
    return lines


def report(asked: Sequence[Asked], misses: bool) -> list[str]:
    """Per-kind F1, the calibration of the answers given, and (``misses``) each miss."""
    lines = ["  F1 per kind: " + ", ".join(f"{k} {f:.3f} ({n})" for k, (n, f) in per_kind(asked).items())]
    given = [a for a in asked if a.answer is not None]
    predicted = np.array([a.score for a in given])
    observed = np.array([float(bool(a.row["answers"]) and a.f1 >= 0.5) for a in given])
    lines.append(
        f"  calibration of the {len(given)} answers given (right: F1 >= 0.5), "
        f"ECE {expected_calibration_error(predicted, observed):.3f}:"
    )
    lines += ["  " + line for line in calibration_lines(predicted, observed)]
    if misses:
        for a in asked:
            if a.row["answers"] and a.em < 1:
                lines.append(f"  miss {a.row['id']}: {a.answer!r} ({a.score:.2f}) vs {a.row['answers'][0]!r}")
            elif not a.row["answers"] and a.answer is not None:
                lines.append(f"  miss {a.row['id']}: {a.answer!r} ({a.score:.2f}), expected no answer")
    return lines


def run(
    folder: Path, modes: Sequence[str], work: Path, top_k: int, misses: bool, limit: int = 0
) -> dict[str, Any]:
    news = load(folder)
    rows = news.questions[:limit] if limit else news.questions
    print(
        f"news set {folder}: {len(news.bodies)} pages, {len(rows)} questions "
        f"({sum(bool(r['answers']) for r in rows)} answerable), top_k {top_k}"
    )
    results: dict[str, dict[str, Any]] = {}
    details: dict[str, list[str]] = {}
    for mode in modes:
        engine = open_engine(news, mode, work)
        try:
            asked = ask_all(engine, rows, top_k)
        finally:
            engine.close()
        results[mode] = summarize(asked)
        # Each answer given, as (score, right): what a reliability diagram is drawn from.
        results[mode]["given"] = [
            [round(a.score, 4), int(bool(a.row["answers"]) and a.f1 >= 0.5)]
            for a in asked
            if a.answer is not None
        ]
        details[mode] = report(asked, misses)
    print("\n".join(table(results)))
    for mode in modes:
        print(f"{mode}:")
        print("\n".join(details[mode]))
    return results
