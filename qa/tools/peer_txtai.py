"""Side by side with a peer: txtai 9.x on the same open-book SQuAD benchmark, and on the
real news set (``qa eval news``, its bodies as text).

    pip install -e ".[peer]"
    python -m qa.tools.peer_txtai ../shared/data/squad/dev-v1.1-minus-xquad.json --limit 500
    python -m qa.tools.peer_txtai --news ../shared/eval/news
    python -m qa.tools.peer_txtai --seeds ../shared/eval/dev_qa.jsonl --rounds 8

The peer is what a txtai user would build: a hybrid ``Embeddings`` index (dense + BM25 in
txtai's own scoring) over the same passages with the same MiniLM, and its ``Extractor`` (the
RAG pipeline in question-answering mode) reading the top ``--context`` passages with *our*
reader weights. It returns one span per question and never abstains. Both systems answer
the same sampled questions, interleaved, in one process; both rows are printed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from index.embedder import bundled_model_dir, offline
from qa.evaluation.open_squad import (
    KS,
    Outcome,
    holds,
    load_open_book,
    open_engine,
    outcome,
    states,
    summarize,
)
from qa.reading.squad import best_score
from qa.schemas import Passage
from qa.settings import DEFAULT_READER
from qa.tools.bench import percentiles

ROOT = Path(__file__).resolve().parents[2]


class TxtaiPeer:
    def __init__(self, passages: list[Passage], context: int) -> None:
        offline()
        from txtai import Embeddings
        from txtai.pipeline import Extractor

        self.unmapped = 0
        self.passages = {f"{p.doc_id}#{p.paragraph}": p for p in passages}
        self.embeddings = Embeddings(path=str(bundled_model_dir()), content=True, hybrid=True)
        self.embeddings.index([(key, p.text, None) for key, p in self.passages.items()])
        self.extractor = Extractor(
            self.embeddings, str(DEFAULT_READER), task="question-answering", context=context
        )

    def search(self, question: str, k: int) -> list[Passage]:
        return [self.passages[hit["id"]] for hit in self.embeddings.search(question, k)]

    def answer(self, question: str) -> str:
        """txtai's top span, or "" when it gives none: its Questions pipeline drops spans
        under 0.05, and fails (TypeError) when the best start or end is the [CLS] "no answer"
        slot our reader was trained to use; both count as no answer, and failures are counted."""
        try:
            reply = self.extractor([{"name": "q", "query": question, "question": question, "snippet": False}])
        except TypeError:
            self.unmapped += 1
            return ""
        answer = (
            reply[0]["answer"] if reply and isinstance(reply[0], dict) else (reply[0][1] if reply else None)
        )
        return str(answer or "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("file", type=Path, nargs="?", help="a SQuAD v1.1 JSON file")
    parser.add_argument("--news", type=Path, help="the news set's folder (qa eval news): compare on it")
    parser.add_argument("--limit", type=int, default=300, help="answerable and unanswerable questions each")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--top-k", type=int, default=5, help="passages our engine reads")
    parser.add_argument("--context", type=int, default=3, help="passages txtai's Extractor reads")
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "eval")
    parser.add_argument(
        "--seeds", type=Path, help="questions over seeds/ (the smoke test's JSON Lines): compare on them"
    )
    parser.add_argument("--rounds", type=int, default=1, help="--news, --seeds: times each question is asked")
    parser.add_argument("--json", type=Path, help="also write both rows here")
    args = parser.parse_args(argv)
    if args.news:
        return news_side_by_side(args.news, args.work, args.top_k, args.context, args.json, args.rounds)
    if args.seeds:
        return seeds_side_by_side(args.seeds, args.work, args.top_k, args.context, args.json, args.rounds)
    if args.file is None:
        parser.error("name a SQuAD file, --news DIR or --seeds FILE")

    book = load_open_book(args.file, seed=args.seed)
    episodes = book.sample(args.limit, seed=args.seed)
    engine = open_engine(book, args.work)
    passages = [
        Passage(doc_id=p.doc_id, paragraph=p.paragraph, start=p.start, end=p.end, text=p.text, score=0.0)
        for batch in engine.backend.iter_passages()
        for p in batch
    ]
    peer = TxtaiPeer(passages, args.context)
    rows: dict[str, dict[str, Any]] = {"ours": {}, "txtai": {}}
    search = {"ours": lambda q, k: engine.retrieve(q, k), "txtai": peer.search}
    answerable = [e for e in episodes if e.answers]
    for name, run in search.items():
        hits = np.zeros(len(KS))
        for e in answerable:
            ranked = run(e.question, max(KS))
            first = next((i for i, p in enumerate(ranked) if holds(p, e)), None)
            if first is not None:
                hits += np.array([first < k for k in KS])
        rows[name].update({f"recall@{k}": float(h) / len(answerable) for k, h in zip(KS, hits, strict=True)})
    outcomes: dict[str, list[Outcome]] = {"ours": [], "txtai": []}
    engine.ask(episodes[0].question, args.top_k)
    peer.answer(episodes[0].question)
    for e in episodes:  # interleaved, so both see the same machine state
        t0 = time.perf_counter()
        reply = engine.ask(e.question, args.top_k)
        ms = (time.perf_counter() - t0) * 1000
        top = reply.answers[0] if reply.answers else None
        outcomes["ours"].append(outcome(e, top.text if top else None, top.score if top else 0.0, ms))
        t0 = time.perf_counter()
        text = peer.answer(e.question)
        ms = (time.perf_counter() - t0) * 1000
        outcomes["txtai"].append(outcome(e, text or None, 1.0, ms))
    for name in rows:
        rows[name].update(summarize(outcomes[name]))
    print(
        f"{len(answerable)} answerable and {len(episodes) - len(answerable)} unanswerable questions "
        f"from {args.file.name}; {len(passages)} passages"
    )
    print(f"txtai gave no span for {peer.unmapped} questions (its best start or end was [CLS])")
    keys = list(rows["ours"])
    print("| metric | ours | txtai 9 |\n|---|---|---|")
    for key in keys:
        print(f"| {key} | {rows['ours'][key]:.3f} | {rows['txtai'][key]:.3f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    engine.close()
    return 0


def all_passages(engine: Any) -> list[Passage]:
    return [
        Passage(doc_id=p.doc_id, paragraph=p.paragraph, start=p.start, end=p.end, text=p.text, score=0.0)
        for batch in engine.backend.iter_passages()
        for p in batch
    ]


def news_side_by_side(
    folder: Path, work: Path, top_k: int, context: int, out: Path | None, rounds: int = 1
) -> int:
    """Both systems on the news set's questions, interleaved, over the same passages (the
    bodies indexed as text by our engine; txtai indexes the same passages)."""
    from qa.evaluation import news

    data = news.load(folder)
    engine = news.open_engine(data, "text", work)
    try:
        return side_by_side(engine, data.questions, str(folder), top_k, context, out, rounds)
    finally:
        engine.close()


def seeds_side_by_side(
    questions: Path, work: Path, top_k: int, context: int, out: Path | None, rounds: int
) -> int:
    """Both systems on the seed articles (``seeds/``) and their smoke-test questions."""
    from qa.engine import Engine
    from qa.settings import Settings

    rows = [json.loads(line) for line in questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    data_dir = work / "peer-seeds"
    shutil.rmtree(data_dir, ignore_errors=True)
    engine = Engine(Settings(data_dir=data_dir, corpus=ROOT / "seeds"))
    ids = {p.doc_id for p in all_passages(engine)}
    for r in rows:  # the smoke test names documents by the prefix of their id
        r["docs"] = sorted(i for i in ids if any(i.startswith(d) for d in r.get("docs", [])))
    try:
        return side_by_side(engine, rows, f"{questions} over seeds/", top_k, context, out, rounds)
    finally:
        engine.close()


def side_by_side(
    engine: Any,
    rows: list[dict[str, Any]],
    name: str,
    top_k: int,
    context: int,
    out: Path | None,
    rounds: int = 1,
) -> int:
    """Each question asked of both, in turn (ours first on even questions, txtai first on odd
    ones, so that both see the same machine state), ``rounds`` times over; the quality of
    the first round and the latency of all, and the ratio of the two at p50 and p99."""
    from qa.evaluation import news

    peer = TxtaiPeer(all_passages(engine), context)
    engine.ask(rows[0]["question"], top_k)
    peer.answer(rows[0]["question"])
    peer.unmapped = 0

    def theirs(r: dict[str, Any]) -> news.Asked:
        t0 = time.perf_counter()
        text = peer.answer(r["question"]) or None
        ms = (time.perf_counter() - t0) * 1000
        em, f1 = best_score(text, r["answers"]) if text and r["answers"] else (0.0, 0.0)
        found = peer.search(r["question"], top_k)
        recall = any(p.doc_id in r.get("docs", []) and states(p, r["answers"]) for p in found)
        return news.Asked(r, text, 1.0, em, f1, ms, recall)

    def ours(r: dict[str, Any]) -> news.Asked:
        return news.ask_all(engine, [r], top_k, warm=False)[0]

    results: dict[str, list[news.Asked]] = {"ours": [], "txtai": []}
    unmapped = 0
    ms: dict[str, list[float]] = {"ours": [], "txtai": []}
    sides = {"ours": ours, "txtai": theirs}
    for round_ in range(rounds):
        for i, r in enumerate(rows):
            for side in ("ours", "txtai") if i % 2 == 0 else ("txtai", "ours"):
                asked = sides[side](r)
                ms[side].append(asked.ms)
                if round_ == 0:
                    results[side].append(asked)
        if round_ == 0:
            unmapped = peer.unmapped
    summaries = {side: news.summarize(asked) for side, asked in results.items()}
    latency = {side: percentiles(values) for side, values in ms.items()}
    for side, (p50, p99) in latency.items():
        summaries[side].update(ask_p50_ms=p50, ask_p99_ms=p99)
    print(f"{len(rows)} questions of {name}, {rounds} round(s)")
    print(f"txtai gave no span for {unmapped} ([CLS] best)")
    print("\n".join(news.table(summaries)))
    (ours_p50, ours_p99), (their_p50, their_p99) = latency["ours"], latency["txtai"]
    print(
        f"ask p50 / p99: ours {ours_p50:.1f} / {ours_p99:.1f} ms, "
        f"txtai {their_p50:.1f} / {their_p99:.1f} ms; "
        f"ours / txtai {ours_p50 / their_p50:.2f} at p50, {ours_p99 / their_p99:.2f} at p99"
    )
    if out:
        out.write_text(json.dumps(summaries, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
