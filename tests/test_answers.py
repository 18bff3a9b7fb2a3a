"""Aggregation of reader spans into answers (pure; no model)."""

from __future__ import annotations

import pytest

from qa.answers import aggregate, context_window, coverage
from qa.reader import Span
from qa.schemas import Passage

FULL = [1.0, 1.0, 1.0]  # every passage covers the question fully
TEXTS = [
    "Tajik President Emomali Rahmon ordered 20,000 reserve officers to the border.",
    "Tajikistan will reinforce its border with an additional 20,000 troops.",
    "Border guards said 1,030 Afghan troops fled; a committee said 1,037 had fled.",
]


def _passages() -> list[Passage]:
    out, offset = [], 0
    for i, text in enumerate(TEXTS):
        out.append(
            Passage(doc_id=f"d{i}", paragraph=2, start=offset, end=offset + len(text), text=text, score=0.8)
        )
        offset += 1000
    return out


def _span(passage: int, needle: str, confidence: float, occurrence: int = 0) -> Span:
    text = TEXTS[passage]
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(needle, start + 1)
    return Span(passage, start, start + len(needle), needle, confidence)


def test_same_answer_in_several_passages_is_one_answer_with_every_citation() -> None:
    spans = [_span(0, "20,000", 0.7), _span(1, "20,000", 0.6), _span(2, "1,030", 0.65)]
    answers = aggregate(spans, _passages(), FULL, threshold=0.0, max_answers=3)
    assert [a.text for a in answers] == ["20,000", "1,030"]
    assert {c.doc_id for c in answers[0].citations} == {"d0", "d1"}
    assert answers[0].score > max(c.score for c in answers[0].citations)  # corroboration counts
    assert all(0 <= a.score <= 1 for a in answers)


def test_different_numbers_stay_apart() -> None:
    spans = [_span(2, "1,030", 0.6), _span(2, "1,037", 0.55)]
    answers = aggregate(spans, _passages(), FULL, threshold=0.0, max_answers=5)
    assert sorted(a.text for a in answers) == ["1,030", "1,037"]


def test_citation_offsets_point_into_document_and_context() -> None:
    passages = _passages()
    answers = aggregate([_span(1, "20,000", 0.9)], passages, FULL, threshold=0.0, max_answers=1)
    c = answers[0].citations[0]
    document = " " * 1000 + TEXTS[1]  # passage 1 starts at offset 1000 of its document
    assert document[c.start : c.end] == c.text == "20,000"
    assert c.context[c.context_start : c.context_end] == c.text
    assert c.paragraph == 2 and c.doc_id == "d1"


def test_overlapping_variants_in_one_passage_are_not_separate_answers() -> None:
    spans = [
        _span(0, "20,000", 0.8),
        _span(0, "20,000 reserve officers", 0.5),
        _span(0, "Emomali Rahmon", 0.4),
    ]
    answers = aggregate(spans, _passages(), FULL, threshold=0.0, max_answers=5)
    assert [a.text for a in answers] == ["20,000", "Emomali Rahmon"]


def test_threshold_abstains_and_max_answers_caps() -> None:
    spans = [_span(0, "20,000", 0.2), _span(2, "1,030", 0.1)]
    assert aggregate(spans, _passages(), FULL, threshold=0.5, max_answers=3) == []
    assert len(aggregate(spans, _passages(), FULL, threshold=0.0, max_answers=1)) == 1


def test_lexical_evidence_scales_citations() -> None:
    weak = aggregate([_span(0, "20,000", 0.9)], _passages(), [0.2, 1.0, 1.0], threshold=0.0, max_answers=1)
    assert weak[0].score == pytest.approx(0.18)
    assert (
        aggregate([_span(0, "20,000", 0.9)], _passages(), [0.2, 1.0, 1.0], threshold=0.3, max_answers=1) == []
    )


def test_coverage_weights_rare_question_terms() -> None:
    weights = {"gdp": 4.0, "afghanistan": 0.5}
    assert coverage(weights, {"afghanistan", "border"}) == pytest.approx(0.5 / 4.5)
    assert coverage(weights, {"gdp", "afghanistan"}) == 1.0
    assert coverage({}, {"anything"}) == 1.0


def test_context_window_never_splits_words() -> None:
    text = "alpha beta gamma delta epsilon zeta eta theta"
    start = text.index("delta")
    lo, hi = context_window(text, start, start + 5, chars=8)
    assert text[lo:hi] == "gamma delta epsilon"


def test_an_article_repeating_itself_does_not_corroborate_itself() -> None:
    passages = _passages()
    same_doc = [p.model_copy(update={"doc_id": "d0"}) for p in passages]
    spans = [_span(0, "20,000", 0.6), _span(1, "20,000", 0.6)]
    one_source = aggregate(spans, same_doc, FULL, threshold=0.0, max_answers=1)[0]
    two_sources = aggregate(spans, passages, FULL, threshold=0.0, max_answers=1)[0]
    assert len(one_source.citations) == 2
    assert one_source.score == max(c.score for c in one_source.citations) < two_sources.score
