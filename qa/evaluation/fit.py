"""Fit the retrieval settings and the answer scorer on episodes built from SQuAD *train*.

    python -m qa.evaluation.fit --train ../shared/data/squad/train-v1.1.json \\
        [--chunks 2 --articles 48 --questions 750] [--out qa/weights/answer_scorer.json]

Train's articles are cut into chunks of ``--articles`` (as many as dev has); each chunk is
an open book (``qa.evaluation.open_squad``): half its articles are the corpus, the other
half's questions must be abstained on. On those episodes, and nowhere else:

1. every fusion setting of the grid is scored by retrieval recall (@1 + @5 + @20) over the
   same candidates; the best is printed, to be set as the defaults in ``qa/settings.py``;
2. with those settings, every candidate answer's features are recorded, labelled right
   when its F1 against the gold answers is at least 0.5, and a logistic regression is fitted;
3. the abstention threshold is the one that maximizes the overall score of the episodes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import random
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from qa.evaluation.open_squad import KS, OpenBook, asked, holds, open_book, open_engine
from qa.reading.answers import feature_rows
from qa.reading.scorer import (
    FEATURES,
    INTERACTIONS,
    AnswerScorer,
    best_threshold,
    calibration_lines,
    design,
    expected_calibration_error,
    fit_logistic,
    kind_probability,
    platt,
)
from qa.reading.squad import best_score
from qa.retrieval.proximity import proximity_score, query_pairs

log = logging.getLogger("qa.evaluation.fit")
KIND_FLOORS = (0.0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05)
ROOT = Path(__file__).resolve().parents[2]


def fusion_grid() -> list[dict[str, Any]]:
    grid: list[dict[str, Any]] = []
    for n, alpha in itertools.product((50, 100), (0.0, 0.25, 0.5)):
        common = {"candidates": n, "proximity_weight": alpha}
        for k, w in itertools.product((10, 30, 60), (0.5, 0.75, 1.0, 1.5)):
            grid.append({**common, "fusion": "rrf", "rrf_k": k, "dense_weight": w, "lexical_weight": 1.0})
        for w in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
            grid.append({**common, "fusion": "convex", "dense_weight": w, "lexical_weight": 1 - w})
    return grid


def score_fusions(
    engine: Any, episodes: list[Any], grid: list[dict[str, Any]]
) -> list[tuple[float, dict[str, Any], dict[str, Any]]]:
    """Recall@KS of every setting of ``grid`` on the same candidates of each episode."""
    retriever = engine.retriever
    answerable = [e for e in episodes if e.answers]
    cached = []
    for e in answerable:
        lists = retriever.candidates(e.question, 100)
        pairs = query_pairs(e.question)
        memo: dict[int, float] = {}

        def proximity(p: Any, pairs: set[Any] = pairs, memo: dict[int, float] = memo) -> float:
            if p.id not in memo:
                memo[p.id] = proximity_score(pairs, p.text)
            return memo[p.id]

        cached.append((e, lists, proximity))
    results = []
    for setting in grid:
        settings = engine.settings.model_copy(update=setting)
        hits = np.zeros(len(KS))
        for e, lists, proximity in cached:
            ranked = retriever.rank(e.question, lists, max(KS), "hybrid", settings, proximity)
            first = next((i for i, p in enumerate(ranked) if holds(p, e)), None)
            if first is not None:
                hits += np.array([first < k for k in KS])
        recall = {f"recall@{k}": float(h) / len(cached) for k, h in zip(KS, hits, strict=True)}
        results.append((sum(recall.values()), setting, recall))
    results.sort(key=lambda r: -r[0])
    return results


def collect(engine: Any, episodes: list[Any], top_k: int, max_answers: int) -> dict[str, list[Any]]:
    """Features and labels of every candidate answer of every episode; for each candidate
    also P(its kind | question), and for each citation of a right answer its span
    probability and whether it is in the gold article (what the citation floor is fitted on)."""
    pipeline = engine.answerer
    rows, labels, question_of, answerable, f1s, kind_p, citations = [], [], [], [], [], [], []
    t0 = time.perf_counter()
    for q, e in enumerate(episodes):
        [(found, context)] = pipeline.candidates_many([asked(engine, e, top_k)], max_answers)
        features, _ = feature_rows(context, found)
        for c, x in zip(found, features, strict=True):
            f1 = best_score(c.text, e.answers)[1] if e.answers else 0.0
            rows.append(x.tolist())
            f1s.append(f1)
            labels.append(float(f1 >= 0.5))
            question_of.append(q)
            kind_p.append(float(kind_probability(x)))
            if f1 >= 0.5:
                citations += [[ev.probability, float(ev.doc_id == e.doc_id)] for ev in c.evidence]
        answerable.append(bool(e.answers))
        if (q + 1) % 250 == 0:
            log.info(
                "%d/%d episodes, %.0f ms each",
                q + 1,
                len(episodes),
                1000 * (time.perf_counter() - t0) / (q + 1),
            )
    return {
        "rows": rows,
        "labels": labels,
        "f1": f1s,
        "question": question_of,
        "answerable": answerable,
        "kind_p": kind_p,
        "citations": citations,
    }


def top_per_question(
    score: np.ndarray, data: dict[str, Any], kind_floor: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Each question's best score (-inf: no candidate) and that answer's F1, among the
    candidates whose kind the question asks for with a probability of at least ``kind_floor``."""
    n = len(data["answerable"])
    best, f1 = np.full(n, -np.inf), np.zeros(n)
    for p, q, f, k in zip(score, data["question"], data["f1"], data["kind_p"], strict=True):
        if p > best[q] and k >= kind_floor:
            best[q], f1[q] = p, f
    return best, f1


def question_weights(groups: list[str]) -> np.ndarray:
    """Each episode's weight in the overall score the threshold maximizes: the questions
    without an answer weigh as much as those with one (as in SQuAD 2.0 and the open-book
    benchmark), half of them about articles the corpus does not have and half on topic."""
    g = np.array(groups)
    n_answerable = max(1, int((g == "answerable").sum()))
    weights = np.ones(len(g))
    for group in ("off_topic", "on_topic"):
        members = g == group
        if members.any():
            share = 0.5 if (g == "on_topic").any() and (g == "off_topic").any() else 1.0
            weights[members] = share * n_answerable / members.sum()
    return weights


def fit_kind_floor(
    scorer: AnswerScorer, x: np.ndarray, data: dict[str, Any], weights: np.ndarray | None = None
) -> tuple[float, float, float]:
    """The kind floor (and its threshold) that maximizes the episodes' overall score:
    (floor, threshold, overall)."""
    answerable = np.array(data["answerable"])
    best_fit = (0.0, 0.0, -1.0)
    for floor in KIND_FLOORS:
        best, f1 = top_per_question(scorer.probability(x), data, floor)
        best[best == -np.inf] = 0.0
        threshold, overall = best_threshold(best, f1, answerable, weights)
        print(f"  kind floor {floor:.3f}: threshold {threshold:.4f}, overall {overall:.4f}")
        if overall > best_fit[2] + 1e-4:
            best_fit = (floor, threshold, overall)
    return best_fit


def fit_citation_floor(citations: list[list[float]]) -> float:
    """The span probability under which the reader does not give an answer in a passage,
    so the passage is not cited for it: the floor that keeps the most citations in the
    answer's own article and the fewest elsewhere (the same words in another story), by the
    largest difference of their keep rates."""
    if not citations:
        return 0.0
    c = np.array(citations, dtype=np.float64)
    probability, own = c[:, 0], c[:, 1].astype(bool)
    if not own.any() or own.all():
        return 0.0
    best, best_gap = 0.0, 0.0
    for floor in np.unique(np.round(probability, 4)):
        gap = float(np.mean(probability[own] >= floor) - np.mean(probability[~own] >= floor))
        if gap > best_gap + 1e-9:
            best, best_gap = float(floor), gap
    print(
        f"citation floor {best:.4f}: keeps {np.mean(probability[own] >= best):.3f} of the {int(own.sum())} "
        f"citations in the answer's article, {np.mean(probability[~own] >= best):.3f} "
        f"of the {int((~own).sum())} elsewhere"
    )
    return best


def loss_breakdown(data: dict[str, Any], top_f1: np.ndarray) -> str:
    """Where the answerable questions' F1 goes: the best candidate found (the reader and
    retrieval's ceiling) against the scorer's top choice (before abstention)."""
    answerable = np.array(data["answerable"], dtype=bool)
    best = np.zeros(len(answerable))
    for q, f in zip(data["question"], data["f1"], strict=True):
        best[q] = max(best[q], f)
    return (
        f"answerable questions: best candidate F1 {best[answerable].mean():.4f} (reader and retrieval), "
        f"top candidate F1 {top_f1[answerable].mean():.4f} (the choice among candidates, always answering)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", type=Path, default=ROOT.parent / "shared/data/squad/train-v1.1.json")
    parser.add_argument("--chunks", type=int, default=2)
    parser.add_argument("--articles", type=int, default=48, help="articles per open book (dev has 48)")
    parser.add_argument("--questions", type=int, default=750, help="answerable and unanswerable per book")
    parser.add_argument(
        "--on-topic",
        type=int,
        default=250,
        help="on-topic unanswerable questions per book, each way (removed, perturbed)",
    )
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--max-answers", type=int, default=3)
    parser.add_argument("--l2", type=float, default=1.0)
    parser.add_argument(
        "--balanced",
        action="store_true",
        help="choose the threshold as if the questions without an answer weighed as much as those "
        "with one (default: every episode counts once, so the on-topic ones add to the unanswerable share)",
    )
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "fit")
    parser.add_argument("--episodes", type=Path, help="reuse (or write) the collected features here")
    parser.add_argument("--skip-fusion", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "qa" / "weights" / "answer_scorer.json")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("bm25s").setLevel(logging.WARNING)

    with open(args.train, encoding="utf-8") as fh:
        data = json.load(fh)["data"]
    articles = sorted(data, key=lambda a: a["title"])
    random.Random(args.seed).shuffle(articles)
    books: list[OpenBook] = [
        open_book(articles[i * args.articles : (i + 1) * args.articles], seed=args.seed)
        for i in range(args.chunks)
    ]
    # Per book: the answerable and off-topic episodes, and the on-topic ones.
    book_episodes = [
        (
            book.sample(args.questions, seed=args.seed + b),
            book.on_topic(args.on_topic, seed=args.seed + b) if args.on_topic else [],
        )
        for b, book in enumerate(books)
    ]
    if args.episodes and args.episodes.exists():
        collected = json.loads(args.episodes.read_text())
    else:
        collected = {
            key: [] for key in ("rows", "labels", "f1", "question", "answerable", "kind_p", "citations")
        }
        for b, (book, (episodes, on_topic)) in enumerate(zip(books, book_episodes, strict=True)):
            # Candidates are collected with answers ordered by span probability alone.
            bootstrap = args.work / "span-probability-scorer.json"
            bootstrap.parent.mkdir(parents=True, exist_ok=True)
            bootstrap.write_text(AnswerScorer.by_span_probability().to_json())
            engine = open_engine(book, args.work, answer_scorer=bootstrap)
            if not args.skip_fusion:
                ranked = score_fusions(engine, episodes, fusion_grid())
                print(f"book {b}: best fusion settings (recall@1+@5+@20 on {len(episodes) // 2} questions)")
                for total, setting, recall in ranked[:8]:
                    print(f"  {total:.4f} {recall} {setting}")
            part = collect(engine, episodes + on_topic, args.top_k, args.max_answers)
            first = len(collected["answerable"])
            collected["question"] += [q + first for q in part.pop("question")]
            for key, values in part.items():
                collected[key] += values
            engine.close()
        if args.episodes:
            args.episodes.parent.mkdir(parents=True, exist_ok=True)
            args.episodes.write_text(json.dumps(collected))
    x, y = np.array(collected["rows"]), np.array(collected["labels"])
    mean, scale, coef, intercept = fit_logistic(design(x, INTERACTIONS), y, l2=args.l2)
    scorer = AnswerScorer(FEATURES, mean, scale, coef, intercept, 0.0, interactions=INTERACTIONS)
    answerable = np.array(collected["answerable"])
    # Recalibrate on each question's top answer (the one shown), then pick the threshold.
    top = top_per_question(scorer.logit(x), collected)
    has_answer = top[0] > -np.inf
    slope, offset = platt(top[0][has_answer], (top[1][has_answer] >= 0.5).astype(float))
    scorer = replace(scorer, slope=slope, offset=offset)
    print("kind floor (answers of a kind the question asks for with less probability are not shown):")
    groups = [  # the episodes' groups, in the order they were collected
        "on_topic" if e.on_topic else "answerable" if e.answers else "off_topic"
        for episodes, on_topic in book_episodes
        for e in episodes + on_topic
    ]
    if len(groups) != len(answerable):
        raise SystemExit(
            f"{len(answerable)} episodes collected, {len(groups)} in the books: rerun the collection"
        )
    weights = question_weights(groups) if args.balanced else None
    kind_floor, threshold, overall = fit_kind_floor(scorer, x, collected, weights)
    citation_floor = fit_citation_floor(collected["citations"])
    scorer = replace(scorer, threshold=threshold, kind_floor=kind_floor, citation_floor=citation_floor)
    best, f1 = top_per_question(scorer.probability(x), collected, kind_floor)
    best[best == -np.inf] = 0.0
    print(f"{len(answerable)} episodes, {len(y)} candidate answers, {y.mean():.3f} of them right")
    names = [*FEATURES, *(f"{a}*{b}" for a, b in INTERACTIONS)]
    print("coefficients (standardized):", dict(zip(names, np.round(coef, 3).tolist(), strict=True)))
    print(f"threshold {threshold:.4f}: overall {overall:.4f} on the train episodes")
    print(loss_breakdown(collected, top_per_question(scorer.probability(x), collected, kind_floor)[1]))
    top_right = (f1 >= 0.5).astype(float)
    print(f"calibration of the top answers (ECE {expected_calibration_error(best, top_right):.4f}):")
    print("\n".join(calibration_lines(best, top_right)))
    args.out.write_text(
        scorer.to_json(
            fitted_on=f"{len(answerable)} open-book episodes from {args.train.name} "
            f"({args.chunks} books of {args.articles} articles, seed {args.seed}; per book "
            f"{args.questions} answerable, {args.questions} about articles not in the corpus, "
            f"about {args.on_topic} on topic with the answer removed and {args.on_topic} perturbed)",
            label="right: F1 >= 0.5 against the gold answers",
            command="python -m qa.evaluation.fit",
        )
        + "\n"
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
