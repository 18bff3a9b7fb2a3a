"""The fine answer kinds: spans typed by form, the question's kinds as fitted on SQuAD train."""

from __future__ import annotations

import pytest

from qa.reading.answer_kind import KINDS, KindModel, span_kind
from qa.settings import DEFAULT_KINDS


@pytest.mark.parametrize(
    ("span", "before", "after", "kind"),
    [
        ("20,000", "mobilized ", " reservists", "count"),
        ("1993", "since ", ".", "year"),
        ("$449,000", "spent ", ".", "money"),
        ("Fifty-one percent", "", " said", "percent"),
        ("74", "who was ", "-year-old", "age"),
        ("three years", "for ", ".", "duration"),
        ("355 horsepower", "makes ", ".", "measure"),
        ("November 12", "on ", ",", "date"),
        ("The Carlyle Group", "by ", ".", "organization"),
        ("Sen. Elizabeth Warren", "", " said", "person"),
        ("Letitia James", "said ", ".", "name"),
        ("the girl", "said ", ".", "other"),
        ("A New York man", "", " was", "other"),
        ("judge", "the ", " ordered", "other"),
    ],
)
def test_a_span_is_typed_by_its_form_and_surroundings(span: str, before: str, after: str, kind: str) -> None:
    assert span_kind(span, before, after) == kind


def test_a_common_word_capitalized_at_a_sentence_start_is_not_a_name() -> None:
    common = frozenset({"prosecutors"})
    assert span_kind("Prosecutors", "trial. ", " said", common) == "other"
    assert span_kind("Prosecutors", "", " said", common) == "other"
    assert span_kind("Rahmon", "President ", " said", common) == "name"


@pytest.fixture(scope="module")
def model() -> KindModel:
    return KindModel.load(DEFAULT_KINDS)


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many troops were sent to the border?", "count"),
        ("In what year was the dam finished?", "year"),
        ("How much did the new stadium cost?", "money"),
        ("What percentage of the vote did she win?", "percent"),
        ("How long did the siege last?", "duration"),
    ],
)
def test_the_shipped_model_reads_what_a_question_asks_for(model: KindModel, question: str, kind: str) -> None:
    p = model.probabilities(question)
    assert set(p) == set(KINDS) and sum(p.values()) == pytest.approx(1.0)
    assert max(p, key=p.__getitem__) == kind


def test_a_person_question_makes_a_number_unlikely(model: KindModel) -> None:
    p = model.probabilities("Who ordered the reservists to the border?")
    assert p["count"] < 0.05 < p["name"] + p["person"]
