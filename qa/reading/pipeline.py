"""From a question and its retrieved passages to scored answers with citations.

``AnswerPipeline.answer`` reads the passages with the span reader, groups the spans into
candidate answers (``qa.reading.answers``), scores each with the fitted answer scorer
(``qa.reading.scorer``: a calibrated probability that it is right) and drops those under
the abstention threshold. With ``more`` (supplied by the caller), the passages that state
a kept answer word for word are read too, so that every source of it is cited and counted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from index.text.terms import prefix_terms
from qa.reading.answer_kind import KindModel
from qa.reading.answers import (
    Candidate,
    PassageSignals,
    answers_from,
    candidates,
    coverage,
    feature_rows,
    missing,
    question_context,
)
from qa.reading.reader import Reader, Span
from qa.reading.scorer import AnswerScorer, QuestionContext, kind_probability
from qa.retrieval.proximity import TermPositions, proximity_score, query_pairs
from qa.schemas import Answer, Passage

# Candidates scoring at least this share of the threshold before corroboration are corroborated.
CORROBORATE_REACH = 0.5
# (answer text, passages already read as (doc_id, paragraph)) -> passages stating it verbatim
FindMore = Callable[[str, set[tuple[str, int]]], list[Passage]]
# passages -> cosine between the question and each of them
Similarity = Callable[[Sequence[Passage]], list[float]]


@dataclass(frozen=True)
class Asked:
    """One question with its retrieved passages, and how to find more of its corpus."""

    question: str
    passages: list[Passage]
    more: FindMore | None = None
    similarity: Similarity | None = None


class TermWeights(Protocol):
    def prefix_idf(self, terms: set[str]) -> dict[str, float]: ...


class AnswerPipeline:
    def __init__(
        self,
        reader: Reader,
        weights: TermWeights,
        scorer: AnswerScorer,
        threshold: float | None = None,
        corroborate: int = 3,
        corroborate_context: str = "sentence",
        kinds: KindModel | None = None,
        positions: TermPositions | None = None,
    ) -> None:
        """``threshold``: abstain under this probability (default: the scorer's, fitted with
        it); ``corroborate``: passages read per kept answer that state it verbatim (0: off);
        ``corroborate_context``: of each such passage, the reader reads the ``sentence``
        that states the answer (its neighbours' words only cost time) or the whole
        ``passage``; ``positions``: the retriever's term positions of the passages it hands
        over (else computed here)."""
        if corroborate_context not in ("sentence", "passage"):
            raise ValueError("corroborate_context must be sentence or passage")
        self.reader = reader
        self.weights = weights
        self.scorer = scorer
        self.threshold = scorer.threshold if threshold is None else threshold
        self.corroborate = corroborate
        self.corroborate_context = corroborate_context
        self.kinds = kinds
        self.positions = positions or TermPositions()

    def answer(
        self,
        question: str,
        passages: Sequence[Passage],
        max_answers: int,
        more: FindMore | None = None,
        similarity: Similarity | None = None,
    ) -> list[Answer]:
        return self.answer_many([Asked(question, list(passages), more, similarity)], max_answers)[0]

    def answer_many(
        self, asked: Sequence[Asked], max_answers: int, max_windows: int | None = None
    ) -> list[list[Answer]]:
        """Answers to several questions, their passages read in shared reader batches
        (``max_windows``: the reader windows they may read in all; default: the reader's)."""
        # A right answer under the threshold before its other sources are read may pass it
        # after (the scorer was fitted on episodes whose best candidates were all corroborated,
        # ``qa.evaluation.fit.collect``): every candidate within reach of the threshold is
        # corroborated, not only those already over it; far weaker ones cost no look-ups.
        read = self.candidates_many(asked, max_answers, self.threshold * CORROBORATE_REACH, max_windows)
        return [self.score(context, found, self.threshold, max_answers) for found, context in read]

    def score(
        self, context: QuestionContext, found: Sequence[Candidate], threshold: float, max_answers: int
    ) -> list[Answer]:
        rows, _ = feature_rows(context, found)
        scores = [float(v) for v in self.scorer.probability(rows)] if len(found) else []
        shown = [bool(v) for v in kind_probability(rows) >= self.scorer.kind_floor] if len(found) else []
        return answers_from(found, scores, threshold, max_answers, shown, self.scorer.citation_floor)

    def candidates_many(
        self,
        asked: Sequence[Asked],
        max_answers: int,
        threshold: float = 0.0,
        max_windows: int | None = None,
    ) -> list[tuple[list[Candidate], QuestionContext]]:
        """Candidates of each question. The ``max_answers`` best of a question that reach
        ``threshold`` are corroborated when it has ``more``: the passages stating them are
        read in a second shared pass."""
        signals = [self._signals(a.question, a.similarity) for a in asked]
        ranked = [signal(a.passages, 0) for signal, a in zip(signals, asked, strict=True)]
        contexts = [question_context(a.question, r, self.kinds) for a, r in zip(asked, ranked, strict=True)]
        first = self.reader.read_many(
            [(a.question, [p.text for p in a.passages]) for a in asked], max_windows=max_windows
        )
        found = [candidates(rd.spans, a.passages, r) for rd, a, r in zip(first, asked, ranked, strict=True)]
        extras: list[list[Passage]] = []
        windows: list[list[tuple[int, int]]] = []  # the part of each extra passage read
        for a, context, cands in zip(asked, contexts, found, strict=True):
            extra: list[Passage] = []
            window: list[tuple[int, int]] = []
            if a.more and self.corroborate and cands:
                seen = {(p.doc_id, p.paragraph) for p in a.passages}
                for kept in self.score(context, cands, threshold, max_answers):
                    stating = a.more(kept.text, seen)[: self.corroborate]
                    seen.update((p.doc_id, p.paragraph) for p in stating)
                    extra += stating
                    window += [self._window(p.text, kept.text) for p in stating]
            extras.append(extra)
            windows.append(window)
        second = self.reader.read_many(
            [
                (a.question, [p.text[lo:hi] for p, (lo, hi) in zip(extra, window, strict=True)])
                for a, extra, window in zip(asked, extras, windows, strict=True)
            ],
            log_z=[rd.log_z for rd in first],
            max_windows=max_windows,
        )
        out = []
        for i, a in enumerate(asked):
            if not extras[i]:
                out.append((found[i], contexts[i]))
                continue
            spans = first[i].spans + [
                shifted(sp, len(a.passages), windows[i][sp.passage][0]) for sp in second[i].spans
            ]
            passages = a.passages + extras[i]
            out.append((candidates(spans, passages, ranked[i] + signals[i](extras[i], None)), contexts[i]))
        return out

    def _signals(
        self, question: str, similarity: Similarity | None
    ) -> Callable[[list[Passage], int | None], list[PassageSignals]]:
        """A function from passages (ranked from ``first``, or None: not ranked) to signals."""
        weights = self.weights.prefix_idf(set(prefix_terms(question)))
        pairs = query_pairs(question)

        def signal(passages: list[Passage], first: int | None) -> list[PassageSignals]:
            dense = similarity(passages) if similarity else [0.0] * len(passages)
            out = []
            for i, (p, d) in enumerate(zip(passages, dense, strict=True)):
                positions = self.positions.of(p.text)
                terms = set(positions)
                out.append(
                    PassageSignals(
                        rank=None if first is None else first + i,
                        retrieval=p.score,
                        coverage=coverage(weights, terms),
                        proximity=proximity_score(pairs, positions) if pairs else 1.0,
                        dense=d,
                        missing=missing(weights, terms),
                    )
                )
            return out

        return signal

    def _window(self, text: str, answer: str) -> tuple[int, int]:
        """Character range of ``text`` the reader reads to corroborate ``answer``."""
        if self.corroborate_context == "passage":
            return 0, len(text)
        return sentence_around(text, answer)


_SENTENCE_END = re.compile(r"[.?!][\"'\u201d\u2019)\]]*\s+")


def sentence_around(text: str, needle: str) -> tuple[int, int]:
    """The sentence of ``text`` holding the first occurrence of ``needle`` (compared
    without case), as a character range; the whole text when it does not occur."""
    at = text.lower().find(needle.lower())
    if at < 0:
        return 0, len(text)
    end = at + len(needle)
    start = 0
    for m in _SENTENCE_END.finditer(text, 0, at):
        start = m.end()
    found = _SENTENCE_END.search(text, end)
    return start, found.end() if found else len(text)


def shifted(span: Span, offset: int, chars: int = 0) -> Span:
    """A span read from a slice of a passage (starting at character ``chars``), as a span of
    the whole passage, numbered after the first ``offset`` passages."""
    return replace(span, passage=span.passage + offset, start=span.start + chars, end=span.end + chars)
