"""What kind of answer a question asks for, and whether a span fits it."""

from __future__ import annotations

import pytest

from qa.reading.kinds import KINDS, kind_fit, question_kinds, span_kinds


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many troops did the country mobilize?", "number"),
        ("How big is the reserve force?", "number"),
        ("What percentage of voters turned out?", "number"),
        ("When did the troops cross the border?", "date"),
        ("By when must the soldiers leave?", "date"),
        ("In what year was the treaty signed?", "date"),
        ("Who is the president of the republic?", "name"),
        ("Which agency reported the crossing?", "name"),
        ("Where did the soldiers flee to?", "place"),
        ("Which country did they enter?", "place"),
    ],
)
def test_the_question_says_what_kind_of_answer_it_wants(question: str, kind: str) -> None:
    assert kind in question_kinds(question)


def test_a_question_that_names_no_kind_asks_none() -> None:
    assert question_kinds("What did the ministry say about the offensive?") == frozenset()


@pytest.mark.parametrize(
    ("span", "fits", "misses"),
    [
        ("20,000", {"number"}, {"name", "place"}),
        ("three hundred", {"number"}, {"name"}),
        ("July 5, 2021", {"date", "number", "name"}, set()),
        ("the 19th century", {"date", "number"}, {"name"}),
        ("Ashraf Ghani", {"name", "place"}, {"number", "date"}),
        ("a transitional period", set(), {"number", "date", "name"}),
    ],
)
def test_a_span_fits_the_kinds_its_form_shows(span: str, fits: set, misses: set) -> None:
    kinds = span_kinds(span)
    assert fits <= kinds and not (misses & kinds)


def test_kind_fit_is_signed_only_for_the_kinds_asked() -> None:
    asked = question_kinds("How many troops fled?")
    assert kind_fit(asked, "1,030") == [1.0 if k == "number" else 0.0 for k in KINDS]
    assert kind_fit(asked, "Afghan soldiers") == [-1.0 if k == "number" else 0.0 for k in KINDS]
    assert kind_fit(frozenset(), "anything") == [0.0] * len(KINDS)
