"""From reader spans over ranked passages to answers with citations (pure functions).

The same answer (same SQuAD-normalized text) found in several passages becomes one answer
that carries every citation; different answers stay apart so that a disagreement between
sources (1,030 vs 1,037) is visible.
"""

from __future__ import annotations

from collections.abc import Sequence

from qa.reader import Span
from qa.schemas import Answer, Citation, Passage
from qa.squad import normalize_answer

CONTEXT_CHARS = 240


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
    mentions. "What is the GDP of Afghanistan?" against a passage that never says GDP
    scores near 0 however sure the reader is of some number in it."""
    total = sum(weights.values())
    if total <= 0:
        return 1.0
    return sum(w for t, w in weights.items() if t in passage_terms) / total


def citation_score(reader_confidence: float, passage_coverage: float) -> float:
    """The reader's evidence times the passage's lexical evidence, in [0, 1]."""
    return reader_confidence * passage_coverage


def answer_score(citations: Sequence[Citation]) -> float:
    """The best citation's score, raised by agreement from other documents.

    Sources are documents (an article repeating itself does not corroborate itself), and
    news articles copy each other, so each further source removes only half of the doubt it
    would remove as independent evidence: 1 - (1 - best) * prod(1 - other / 2).
    """
    best_per_document: dict[str, float] = {}
    for c in citations:
        best_per_document[c.doc_id] = max(best_per_document.get(c.doc_id, 0.0), c.score)
    ranked = sorted(best_per_document.values(), reverse=True)
    doubt = 1.0 - ranked[0]
    for other in ranked[1:]:
        doubt *= 1.0 - other / 2
    return 1.0 - doubt


def aggregate(
    spans: Sequence[Span],
    passages: Sequence[Passage],
    evidence: Sequence[float],
    threshold: float,
    max_answers: int,
) -> list[Answer]:
    """Group spans by normalized text into answers scored by ``answer_score``; each
    citation's score is the reader's confidence times ``evidence[passage]`` (the passage's
    coverage of the question). Answers under ``threshold`` are dropped: with none left,
    the reply abstains."""
    groups: dict[str, list[Citation]] = {}
    kept: dict[int, list[tuple[int, int]]] = {}
    for span in sorted(spans, key=lambda s: -s.confidence):
        key = normalize_answer(span.text)
        taken = kept.setdefault(span.passage, [])
        # Within a passage, a span that overlaps a better one is a variant of it, not
        # another answer ("20,000" vs "20,000 reserve officers").
        if not key or any(span.start < e and s < span.end for s, e in taken):
            continue
        taken.append((span.start, span.end))
        passage = passages[span.passage]
        start, end = passage.start + span.start, passage.start + span.end
        lo, hi = context_window(passage.text, span.start, span.end)
        groups.setdefault(key, []).append(
            Citation(
                doc_id=passage.doc_id,
                paragraph=passage.paragraph,
                start=start,
                end=end,
                text=span.text,
                context=passage.text[lo:hi],
                context_start=span.start - lo,
                context_end=span.end - lo,
                score=round(citation_score(span.confidence, evidence[span.passage]), 6),
            )
        )
    answers = []
    for citations in groups.values():
        citations.sort(key=lambda c: -c.score)
        answers.append(
            Answer(text=citations[0].text, score=round(answer_score(citations), 6), citations=citations)
        )
    answers = [a for a in answers if a.score >= threshold]
    answers.sort(key=lambda a: -a.score)
    return answers[:max_answers]
