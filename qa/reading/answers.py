"""From reader spans over ranked passages to candidate answers with citations (pure).

The same answer (same SQuAD-normalized text) found in several passages becomes one
candidate that carries every citation; different answers stay apart so that a disagreement
between sources (1,030 vs 1,037) is visible. Scoring is ``qa.reading.scorer``'s job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from qa.reading.answer_kind import KindModel, span_kind
from qa.reading.kinds import question_kinds
from qa.reading.reader import Span
from qa.reading.scorer import Evidence, QuestionContext, features
from qa.reading.squad import normalize_answer
from qa.retrieval.copies import sources
from qa.schemas import Answer, Citation, Copy, Passage

CONTEXT_CHARS = 240


@dataclass(frozen=True)
class PassageSignals:
    """What retrieval says about one passage that was read."""

    rank: int | None  # 0-based rank in the retrieved list; None: read to corroborate
    retrieval: float
    coverage: float
    proximity: float
    dense: float = 0.0  # cosine between the question and the passage
    missing: float = 0.0  # the rarest question term the passage lacks (``missing``)


@dataclass
class Candidate:
    key: str  # normalized answer text
    citations: list[Citation] = field(default_factory=list)  # scores not yet set
    evidence: list[Evidence] = field(default_factory=list)  # one per citation

    @property
    def text(self) -> str:
        best = max(range(len(self.evidence)), key=lambda i: self.evidence[i].probability)
        return self.citations[best].text

    @property
    def probability(self) -> float:
        return max(e.probability for e in self.evidence)

    def kind(self, common: frozenset[str] = frozenset()) -> str:
        """The answer's kind (``qa.reading.answer_kind``), read at its best citation."""
        best = max(range(len(self.evidence)), key=lambda i: self.evidence[i].probability)
        cite = self.citations[best]
        before, after = cite.context[: cite.context_start], cite.context[cite.context_end :]
        return span_kind(cite.text, before[-30:], after[:30], common)


def context_window(text: str, start: int, end: int, chars: int = CONTEXT_CHARS) -> tuple[int, int]:
    """Bounds of a context of about ``chars`` characters either side of a span, cut at
    white space so that no word is split."""
    lo, hi = max(0, start - chars), min(len(text), end + chars)
    if lo > 0 and not text[lo - 1].isspace():  # lo falls inside a word: skip to its end
        space = text.find(" ", lo, start)
        lo = space + 1 if space != -1 else start
    if hi < len(text) and not text[hi].isspace():  # hi falls inside a word: back off
        space = text.rfind(" ", end, hi)
        hi = space if space != -1 else end
    return lo, hi


def coverage(weights: dict[str, float], passage_terms: set[str]) -> float:
    """Share of the question's information (IDF-weighted content terms) that a passage
    mentions."""
    total = sum(weights.values())
    if total <= 0:
        return 1.0
    return sum(w for t, w in weights.items() if t in passage_terms) / total


def missing(weights: dict[str, float], passage_terms: set[str]) -> float:
    """The weight of the rarest question term a passage does not mention, as a share of the
    rarest term's weight: 1 when a name the question turns on is absent, 0 when every term
    is there. On-topic passages that do not answer often lack exactly that term."""
    top = max(weights.values(), default=0.0)
    if top <= 0:
        return 0.0
    return max((w for t, w in weights.items() if t not in passage_terms), default=0.0) / top


def candidates(
    spans: Sequence[Span], passages: Sequence[Passage], signals: Sequence[PassageSignals]
) -> list[Candidate]:
    """Group spans by normalized text; best span probability first."""
    groups: dict[str, Candidate] = {}
    kept: dict[int, list[tuple[int, int]]] = {}
    source = sources([p.doc_id for p in passages], [p.text for p in passages])
    for span in sorted(spans, key=lambda s: -s.confidence):
        key = normalize_answer(span.text)
        taken = kept.setdefault(span.passage, [])
        # Within a passage, a span that overlaps a better one is a variant of it, not
        # another answer ("20,000" vs "20,000 reserve officers").
        if not key or any(span.start < e and s < span.end for s, e in taken):
            continue
        taken.append((span.start, span.end))
        passage, signal = passages[span.passage], signals[span.passage]
        lo, hi = context_window(passage.text, span.start, span.end)
        group = groups.setdefault(key, Candidate(key))
        group.citations.append(
            Citation(
                doc_id=passage.doc_id,
                paragraph=passage.paragraph,
                start=passage.start + span.start,
                end=passage.start + span.end,
                text=span.text,
                context=passage.text[lo:hi],
                context_start=span.start - lo,
                context_end=span.end - lo,
                score=0.0,
            )
        )
        group.evidence.append(
            Evidence(
                doc_id=passage.doc_id,
                probability=span.confidence,
                null=span.null,
                rank=signal.rank,
                retrieval=signal.retrieval,
                coverage=signal.coverage,
                proximity=signal.proximity,
                dense=signal.dense,
                missing=signal.missing,
                shared=span.shared,
                passage=(passage.doc_id, passage.paragraph),
                source=source[span.passage],
            )
        )
    return list(groups.values())


def question_context(
    question: str, signals: Sequence[PassageSignals], kinds: KindModel | None = None
) -> QuestionContext:
    ranked = [s for s in signals if s.rank is not None]
    return QuestionContext(
        question=question,
        top_dense=max((s.dense for s in ranked), default=0.0),
        top_coverage=max((s.coverage for s in ranked), default=0.0),
        asks=question_kinds(question),
        kind_p=kinds.probabilities(question) if kinds else {},
        common=kinds.common if kinds else frozenset(),
    )


def feature_rows(context: QuestionContext, found: Sequence[Candidate]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Features of each candidate (one row each), and of each of its citations alone."""
    best = sorted((c.probability for c in found), reverse=True)
    rows, per_citation = [], []
    for c in found:
        own = c.probability
        # The leader competes with the runner-up (itself on a tie), the others with the leader.
        competitor = best[0] if own < best[0] else best[1] if len(best) > 1 else 0.0
        rival = rival_shared(c, found)
        kind = c.kind(context.common)
        rows.append(features(c.evidence, c.text, context, competitor, rival, kind))
        per_citation.append(
            np.array(
                [features([e], c.text, context, competitor, rival, kind) for e in c.evidence],
                dtype=np.float64,
            )
        )
    width = len(rows[0]) if rows else 0
    return np.array(rows, dtype=np.float64).reshape(len(rows), width), per_citation


def rival_shared(candidate: Candidate, found: Sequence[Candidate]) -> float:
    """The best shared probability of another answer read in a passage that does not state
    ``candidate``: how the right span of one passage compares with the best of the others."""
    own = {e.passage for e in candidate.evidence}
    return max(
        (e.shared for c in found if c is not candidate for e in c.evidence if e.passage not in own),
        default=0.0,
    )


def answers_from(
    found: Sequence[Candidate],
    scores: Sequence[float],
    threshold: float,
    max_answers: int,
    shown: Sequence[bool] | None = None,
    citation_floor: float = 0.0,
) -> list[Answer]:
    """Scored answers at or above ``threshold``, best first (``shown``: which candidates may
    be shown at all, for example those of a kind the question asks for), each with its
    citations (``cited``)."""
    out = []
    for i, (c, score) in enumerate(zip(found, scores, strict=True)):
        if score < threshold or (shown is not None and not shown[i]):
            continue
        out.append(Answer(text=c.text, score=round(float(score), 6), citations=cited(c, citation_floor)))
    out.sort(key=lambda a: -a.score)
    return out[:max_answers]


def cited(candidate: Candidate, floor: float = 0.0) -> list[Citation]:
    """The sources of an answer: a passage only where the reader, reading it for the
    question, gives the answer a span probability of at least ``floor`` (the answer's best
    passage always), one citation per source (its best passage; the articles that copy it in
    ``copies``), each scored with its share of the answer's support (the shares sum to 1),
    best first."""
    best: dict[str, tuple[Citation, Evidence]] = {}
    for cite, e in zip(candidate.citations, candidate.evidence, strict=True):
        if e.probability < floor and e.probability < candidate.probability:
            continue
        held = best.get(e.source)
        if held is None or e.probability > held[1].probability:
            best[e.source] = (cite, e)
    copies: dict[str, dict[str, Copy]] = {}
    own = {cite.doc_id for cite, _ in best.values()}
    for cite, e in zip(candidate.citations, candidate.evidence, strict=True):
        if e.source in best and cite.doc_id not in own:  # one citation per article
            copy = Copy(doc_id=cite.doc_id, paragraph=cite.paragraph, start=cite.start, end=cite.end)
            copies.setdefault(e.source, {}).setdefault(cite.doc_id, copy)
    total = sum(e.probability for _, e in best.values()) or 1.0
    out = [
        cite.model_copy(
            update={
                "score": round(min(1.0, e.probability / total), 6),
                "copies": list(copies.get(source, {}).values()),
            }
        )
        for source, (cite, e) in best.items()
    ]
    out.sort(key=lambda cite: -cite.score)
    return out
