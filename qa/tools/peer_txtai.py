"""Side by side with a peer: txtai 9.x on the same open-book SQuAD benchmark, and on the
real news set (``qa eval news``, its bodies as text).

    pip install -e ".[peer]"
    python -m qa.tools.peer_txtai ../shared/data/squad/dev-v1.1-minus-xquad.json --limit 500
    python -m qa.tools.peer_txtai --news ../shared/eval/news

The peer is what a txtai user would build: a hybrid ``Embeddings`` index (dense + BM25 in
txtai's own scoring) over the same passages with the same MiniLM, and its ``Extractor`` (the
RAG pipeline in question-answering mode) reading the top ``--context`` passages with *our*
reader weights. It returns one span per question and never abstains. Both systems answer
the same sampled questions, interleaved, in one process; both rows are printed.
"""

from __future__ import annotations

import argparse
import json
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
    parser.add_argument("--json", type=Path, help="also write both rows here")
    args = parser.parse_args(argv)
    if args.news:
        return news_side_by_side(args.news, args.work, args.top_k, args.context, args.json)
    if args.file is None:
        parser.error("name a SQuAD file, or --news DIR")

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


def news_side_by_side(folder: Path, work: Path, top_k: int, context: int, out: Path | None) -> int:
    """Both systems on the news set's questions, interleaved, over the same passages (the
    bodies indexed as text by our engine; txtai indexes the same passages)."""
    from qa.evaluation import news

    data = news.load(folder)
    engine = news.open_engine(data, "text", work)
    peer = TxtaiPeer(all_passages(engine), context)
    results: dict[str, list[news.Asked]] = {"ours": [], "txtai": []}
    rows = data.questions
    engine.ask(rows[0]["question"], top_k)
    peer.answer(rows[0]["question"])
    for r in rows:
        results["ours"] += news.ask_all(engine, [r], top_k, warm=False)
        t0 = time.perf_counter()
        text = peer.answer(r["question"]) or None
        ms = (time.perf_counter() - t0) * 1000
        em, f1 = best_score(text, r["answers"]) if text and r["answers"] else (0.0, 0.0)
        found = peer.search(r["question"], top_k)
        recall = any(p.doc_id in r.get("docs", []) and states(p, r["answers"]) for p in found)
        results["txtai"].append(news.Asked(r, text, 1.0, em, f1, ms, recall))
    summaries = {name: news.summarize(asked) for name, asked in results.items()}
    print(f"{len(rows)} questions of {folder}; txtai gave no span for {peer.unmapped} ([CLS] best)")
    print("\n".join(news.table(summaries)))
    if out:
        out.write_text(json.dumps(summaries, indent=2) + "\n")
    engine.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
