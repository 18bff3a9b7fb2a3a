"""Aggregation of reader spans into answers, and the answer features (pure; no model)."""

from __future__ import annotations

import numpy as np
import pytest

from qa.reading.answers import (
    PassageSignals,
    answers_from,
    candidates,
    context_window,
    coverage,
    feature_rows,
    question_context,
)
from qa.reading.reader import Span
from qa.reading.scorer import FEATURES
from qa.schemas import Passage

TEXTS = [
    "Tajik President Emomali Rahmon ordered 20,000 reserve officers to the border.",
    "Tajikistan will reinforce its border with an additional 20,000 troops.",
    "Border guards said 1,030 Afghan troops fled; a committee said 1,037 had fled.",
]
SIGNALS = [PassageSignals(rank=i, retrieval=0.8, coverage=1.0, proximity=0.5, dense=0.6) for i in range(3)]
QUESTION = "How many troops did Tajikistan mobilize?"
CONTEXT = question_context(QUESTION, SIGNALS)


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
    return Span(passage, start, start + len(needle), needle, confidence, null=0.01)


def _feature(row: np.ndarray, name: str) -> float:
    return float(row[FEATURES.index(name)])


def _answers(
    spans: list[Span],
    passages: list[Passage] | None = None,
    threshold: float = 0.0,
    n: int = 5,
    citation_floor: float = 0.0,
):
    """Answers scored by their best citation's span probability (a stand-in scorer)."""
    found = candidates(spans, passages or _passages(), SIGNALS)
    scores = [c.probability for c in found]
    return answers_from(found, scores, threshold, n, citation_floor=citation_floor)


def test_same_answer_in_several_passages_is_one_candidate_with_every_citation() -> None:
    spans = [_span(0, "20,000", 0.7), _span(1, "20,000", 0.6), _span(2, "1,030", 0.65)]
    answers = _answers(spans)
    assert [a.text for a in answers] == ["20,000", "1,030"]
    assert [c.doc_id for c in answers[0].citations] == ["d0", "d1"]  # best citation first
    shares = [c.score for c in answers[0].citations]
    assert shares == pytest.approx([0.7 / 1.3, 0.6 / 1.3], abs=1e-5)  # shares of the support
    assert all(0 <= a.score <= 1 for a in answers)


def test_an_article_is_one_citation_and_shares_sum_to_one() -> None:
    passages = _passages()
    same_doc = [passages[0], passages[1].model_copy(update={"doc_id": "d0", "paragraph": 5}), passages[2]]
    spans = [_span(0, "20,000", 0.5), _span(1, "20,000", 0.8), _span(2, "1,030", 0.3)]
    [top, _] = _answers(spans, same_doc)
    assert [(c.doc_id, c.paragraph) for c in top.citations] == [("d0", 5)]  # its best passage
    assert sum(c.score for c in top.citations) == pytest.approx(1.0)


def test_a_passage_where_the_reader_barely_finds_the_answer_is_not_cited() -> None:
    """The same words read elsewhere with a low span probability ("a factor of two") do
    not make that passage a source; the answer's best passage is always cited."""
    spans = [_span(0, "20,000", 0.9), _span(1, "20,000", 0.05)]
    [answer] = _answers(spans, citation_floor=0.2)
    assert [c.doc_id for c in answer.citations] == ["d0"]
    [alone] = _answers([_span(1, "20,000", 0.05)], citation_floor=0.2)
    assert [c.doc_id for c in alone.citations] == ["d1"]


def test_different_numbers_stay_apart() -> None:
    answers = _answers([_span(2, "1,030", 0.6), _span(2, "1,037", 0.55)])
    assert sorted(a.text for a in answers) == ["1,030", "1,037"]


def test_citation_offsets_point_into_document_and_context() -> None:
    c = _answers([_span(1, "20,000", 0.9)])[0].citations[0]
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
    assert [a.text for a in _answers(spans)] == ["20,000", "Emomali Rahmon"]


def test_threshold_abstains_and_max_answers_caps() -> None:
    spans = [_span(0, "20,000", 0.2), _span(2, "1,030", 0.1)]
    assert _answers(spans, threshold=0.5) == []
    assert len(_answers(spans, n=1)) == 1


def test_features_count_documents_not_passages_and_see_competition() -> None:
    passages = _passages()
    same_doc = [p.model_copy(update={"doc_id": "d0"}) for p in passages]
    spans = [_span(0, "20,000", 0.6), _span(1, "20,000", 0.5), _span(2, "1,030", 0.2)]
    one_source, _ = feature_rows(CONTEXT, candidates(spans, same_doc, SIGNALS))
    two_sources, per_citation = feature_rows(CONTEXT, candidates(spans, passages, SIGNALS))
    assert _feature(one_source[0], "log_passages") == _feature(two_sources[0], "log_passages") == np.log(2)
    assert _feature(one_source[0], "log_docs") == 0.0 < _feature(two_sources[0], "log_docs")
    assert _feature(two_sources[0], "margin") == pytest.approx(0.6 - 0.2)
    assert _feature(two_sources[1], "margin") == pytest.approx(0.2 - 0.6)
    assert _feature(two_sources[0], "rank") == 1.0  # passage 0 was ranked first
    assert per_citation[0].shape == (2, len(FEATURES))


def test_shared_features_compare_an_answer_with_the_best_of_other_passages() -> None:
    """The per-window confidences tie; the shared probabilities say which passage holds it."""
    spans = [
        Span(0, 39, 45, "20,000", 0.9, null=0.01, shared=0.6),
        Span(2, 19, 24, "1,030", 0.9, null=0.01, shared=0.02),
    ]
    rows, _ = feature_rows(CONTEXT, candidates(spans, _passages(), SIGNALS))
    assert _feature(rows[0], "margin") == _feature(rows[1], "margin") == 0.0
    assert _feature(rows[0], "log_shared") == pytest.approx(np.log(0.6))
    assert _feature(rows[0], "shared_gap") == pytest.approx(np.log(0.6 / 0.02))
    assert _feature(rows[1], "shared_gap") == pytest.approx(np.log(0.02 / 0.6))


def test_answer_kind_features_follow_the_question() -> None:
    spans = [_span(0, "20,000", 0.5), _span(0, "reserve officers", 0.4)]
    rows, _ = feature_rows(CONTEXT, candidates(spans, _passages(), SIGNALS))
    number = {r: _feature(row, "number_fit") for r, row in zip(("20,000", "officers"), rows, strict=True)}
    assert number == {"20,000": 1.0, "officers": -1.0}
    assert _feature(rows[1], "typed_words") == pytest.approx(np.log1p(2))
    who = question_context("Who ordered the reservists to the border?", SIGNALS)
    rows, _ = feature_rows(who, candidates(spans, _passages(), SIGNALS))
    assert _feature(rows[0], "number_fit") == 0.0 and _feature(rows[0], "typed_words") == 0.0


def test_corroborating_passages_have_no_rank_and_answers_in_the_question_are_flagged() -> None:
    signals = [PassageSignals(rank=None, retrieval=0.0, coverage=1.0, proximity=0.0, dense=0.2)] * 3
    context = question_context("Who leads Tajikistan?", SIGNALS)
    rows, _ = feature_rows(context, candidates([_span(1, "Tajikistan", 0.9)], _passages(), signals))
    assert _feature(rows[0], "rank") == 0.0
    assert _feature(rows[0], "in_question") == 1.0
    assert _feature(rows[0], "dense") == 0.2 and _feature(rows[0], "top_dense") == 0.6


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


def test_corroboration_reads_the_sentence_that_states_the_answer() -> None:
    from qa.reading.pipeline import sentence_around

    text = 'Talks resumed on Monday. Tajikistan called up 20,000 reservists. "We are ready," he said.'
    start, end = sentence_around(text, "20,000")
    assert text[start:end].strip() == "Tajikistan called up 20,000 reservists."
    start, end = sentence_around(text, "WE ARE READY")  # compared without case
    assert text[start:end] == '"We are ready," he said.'
    assert sentence_around(text, "absent") == (0, len(text))
