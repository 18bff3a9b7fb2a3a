"""An open-book benchmark built from a SQuAD v1.1 file, large enough that nobody can tune
to it by hand.

The articles are split in two halves (shuffled with a fixed seed): the first half's
articles become documents (one per article, its paragraphs separated by blank lines) and
their questions must be answered from the whole corpus; the second half's questions have no
answer in it and must be abstained on. Measured:

- retrieval, for dense, BM25 and hybrid: recall@1/@5/@20 of a passage of the right
  article that contains a gold answer;
- end to end: top-1 EM and F1 over the answerable questions (0 when abstained; also F1
  against the first gold answer only), the share answered, the share of unanswerable
  questions abstained, and an overall score where an abstention on an unanswerable
  question counts 1 (as SQuAD 2.0 scores no-answer); latency p50/p95.

Built from SQuAD *train* the same episodes fit the retrieval settings and the answer scorer
(``python -m qa.evaluation.fit``); built from dev they measure.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from index.backend import Document
from qa.reading.negatives import name_pool, perturb
from qa.reading.squad import best_score, f1_score
from qa.schemas import Passage

KS = (1, 5, 20)
MODES = ("dense", "lexical", "hybrid")


@dataclass(frozen=True)
class Episode:
    qid: str
    question: str
    answers: tuple[str, ...]  # empty: the corpus does not hold the answer
    doc_id: str | None  # the document that holds it (or, on topic, the one it is about)
    # On-topic without an answer (qa.reading.negatives): "removed" (every passage that
    # states ``hidden`` is left out of what is read) or "perturbed"; "": not on topic.
    on_topic: str = ""
    hidden: tuple[str, ...] = ()


@dataclass(frozen=True)
class OpenBook:
    documents: list[Document]
    answerable: list[Episode]
    unanswerable: list[Episode]

    def sample(self, n: int, seed: int = 0) -> list[Episode]:
        """Up to ``n`` answerable and ``n`` unanswerable episodes (0: all), in a fixed order."""
        rng = random.Random(seed)
        out = []
        for group in (self.answerable, self.unanswerable):
            picked = list(group)
            if n and len(picked) > n:
                picked = rng.sample(picked, n)
            out += picked
        rng.shuffle(out)
        return out

    def on_topic(self, n: int, seed: int = 0) -> list[Episode]:
        """About ``n`` on-topic questions without an answer each way, made from answerable
        ones not in ``sample(n, seed)``: the passages stating the answer removed, and the
        question's name, number or date swapped for one its article does not mention."""
        rng = random.Random(seed + 7919)
        taken = {e.qid for e in self.sample(n, seed)}
        rest = [e for e in self.answerable if e.qid not in taken]
        picked = rng.sample(rest, min(len(rest), 2 * n))
        texts = {d.doc_id: d.text for d in self.documents}
        pool = name_pool([e.question for e in self.unanswerable])  # names from other articles
        removed = [
            replace(e, qid=e.qid + ":removed", answers=(), on_topic="removed", hidden=e.answers)
            for e in picked[:n]
        ]
        perturbed = []
        for e in picked[n:]:
            changed = perturb(e.question, texts[e.doc_id or ""], pool, rng)
            if changed:
                perturbed.append(
                    replace(e, qid=e.qid + ":perturbed", question=changed, answers=(), on_topic="perturbed")
                )
        out = removed + perturbed
        rng.shuffle(out)
        return out


def doc_id_for(title: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", title).strip("._-")[:100] or "article"
    doc_id, n = base, 1
    while doc_id in taken:
        n += 1
        doc_id = f"{base}-{n}"
    taken.add(doc_id)
    return doc_id


def open_book(data: Sequence[dict[str, Any]], seed: int = 0) -> OpenBook:
    """Split SQuAD articles (the file's ``data`` list) into corpus and held-out halves."""
    articles = sorted(data, key=lambda a: a.get("title", ""))
    random.Random(seed).shuffle(articles)
    half = len(articles) // 2
    documents, answerable, unanswerable = [], [], []
    taken: set[str] = set()
    for i, article in enumerate(articles):
        title = article.get("title", "")
        inside = i < half
        doc_id = doc_id_for(title, taken) if inside else None
        contexts = [p["context"].strip() for p in article["paragraphs"]]
        if doc_id is not None:
            text = "\n\n".join(contexts)
            documents.append(Document(doc_id, title.replace("_", " "), text, {"title": title}, "api"))
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                golds = tuple(a["text"] for a in qa["answers"])
                if inside:
                    answerable.append(Episode(qa["id"], qa["question"], golds, doc_id))
                else:
                    unanswerable.append(Episode(qa["id"], qa["question"], (), None))
    return OpenBook(documents, answerable, unanswerable)


def load_open_book(path: Path, seed: int = 0) -> OpenBook:
    with open(path, encoding="utf-8") as fh:
        return open_book(json.load(fh)["data"], seed)


def holds(passage: Passage, episode: Episode) -> bool:
    """The passage is from the episode's document and contains a gold answer."""
    if passage.doc_id != episode.doc_id:
        return False
    text = passage.text.lower()
    return any(a.lower() in text for a in episode.answers)


def open_engine(book: OpenBook, work: Path, **overrides: Any) -> Any:
    """An engine over the book's documents in ``work`` (built once, reused after)."""
    from qa.engine import Engine
    from qa.settings import Settings

    digest = hashlib.sha256("".join(d.doc_id + d.text for d in book.documents).encode()).hexdigest()[:12]
    settings = Settings(data_dir=work / f"open-book-{digest}", corpus=None, **overrides)
    engine = Engine(settings)
    if engine.health().documents != len(book.documents):
        engine.indexer.add(book.documents, progress=True)
    return engine


def retrieval_recall(engine: Any, episodes: Sequence[Episode], ks: Sequence[int] = KS) -> dict[str, float]:
    """recall@k for each mode over the answerable episodes."""
    out: dict[str, float] = {}
    answerable = [e for e in episodes if e.answers]
    for mode in MODES:
        hits = np.zeros(len(ks))
        for e in answerable:
            ranked = engine.retrieve(e.question, max(ks), mode=mode)
            first = next((i for i, p in enumerate(ranked) if holds(p, e)), None)
            if first is not None:
                hits += np.array([first < k for k in ks])
        for k, h in zip(ks, hits, strict=True):
            out[f"{mode}_recall@{k}"] = float(h) / max(1, len(answerable))
    return out


@dataclass
class Outcome:
    """One question asked end to end."""

    episode: Episode
    answer: str | None
    probability: float  # the top answer's score (0 when abstained)
    em: float
    f1: float
    f1_first: float  # against the first gold answer only
    ms: float


def states(passage: Passage, hidden: Sequence[str]) -> bool:
    text = passage.text.lower()
    return any(a.lower() in text for a in hidden)


def asked(engine: Any, episode: Episode, top_k: int) -> Any:
    """What the engine reads for an episode (``qa.reading.pipeline.Asked``): the retrieved
    passages and the corroboration lookup, without any passage that states a hidden
    answer, as if the corpus did not hold them."""
    from qa.reading.pipeline import Asked

    retriever, limit = engine.retriever, engine.settings.corroborate
    hidden = episode.hidden
    passages = retriever.retrieve(episode.question, top_k + (20 if hidden else 0))
    passages = [p for p in passages if not states(p, hidden)][:top_k]

    def more(text: str, seen: set[tuple[str, int]]) -> list[Passage]:
        found = retriever.verbatim(text, limit + (5 if hidden else 0), None, seen)
        return [p for p in found if not states(p, hidden)][:limit]

    def similarity(read: Sequence[Passage]) -> list[float]:
        return list(retriever.similarity(episode.question, read))

    return Asked(episode.question, passages, more, similarity)


def ask_all(engine: Any, episodes: Sequence[Episode], top_k: int = 5) -> list[Outcome]:
    out = []
    engine.ask(episodes[0].question, top_k)  # warm-up
    for e in episodes:
        t0 = time.perf_counter()
        if e.hidden:
            answers = engine.answerer.answer_many([asked(engine, e, top_k)], 3)[0]
        else:
            answers = engine.ask(e.question, top_k).answers
        ms = (time.perf_counter() - t0) * 1000
        top = answers[0] if answers else None
        out.append(outcome(e, top.text if top else None, top.score if top else 0.0, ms))
    return out


def outcome(episode: Episode, answer: str | None, probability: float, ms: float) -> Outcome:
    """Score one reply (``answer`` None: abstained)."""
    em, f1 = best_score(answer, episode.answers) if answer and episode.answers else (0.0, 0.0)
    first = f1_score(answer, episode.answers[0]) if answer and episode.answers else 0.0
    return Outcome(episode, answer, probability, em, f1, first, ms)


def summarize(outcomes: Sequence[Outcome]) -> dict[str, float]:
    """Answerable and off-topic unanswerable questions as always; the on-topic ones (each
    way) apart, as the share abstained on."""
    on_topic = {way: [o for o in outcomes if o.episode.on_topic == way] for way in ("removed", "perturbed")}
    extra = {
        f"on_topic_{way}_abstained": sum(o.answer is None for o in group) / len(group)
        for way, group in on_topic.items()
        if group
    }
    extra |= {f"on_topic_{way}_questions": len(group) for way, group in on_topic.items() if group}
    outcomes = [o for o in outcomes if not o.episode.on_topic]
    return {**_summary(outcomes), **extra}


def _summary(outcomes: Sequence[Outcome]) -> dict[str, float]:
    answerable = [o for o in outcomes if o.episode.answers]
    unanswerable = [o for o in outcomes if not o.episode.answers]
    na, nu = max(1, len(answerable)), max(1, len(unanswerable))
    abstained = sum(o.answer is None for o in unanswerable)
    ms = sorted(o.ms for o in outcomes)
    return {
        "answerable_questions": len(answerable),
        "unanswerable_questions": len(unanswerable),
        "top1_em": sum(o.em for o in answerable) / na,
        "top1_f1": sum(o.f1 for o in answerable) / na,
        "top1_f1_first_gold": sum(o.f1_first for o in answerable) / na,
        "answered": sum(o.answer is not None for o in answerable) / na,
        "unanswerable_abstained": abstained / nu,
        "overall": (sum(o.f1 for o in answerable) + abstained) / max(1, len(outcomes)),
        "ask_p50_ms": float(np.percentile(ms, 50)) if ms else float("nan"),
        "ask_p95_ms": float(np.percentile(ms, 95)) if ms else float("nan"),
    }


def right(outcome: Outcome) -> float:
    """An answer is right when its F1 against the gold answers is at least 0.5."""
    return float(outcome.answer is not None and outcome.f1 >= 0.5)
