"""On-topic questions without an answer, made from answerable ones (pure)."""

from __future__ import annotations

import random

from qa.reading.negatives import names_in, on_topic_negatives, perturb

CONTEXT = (
    "Tajikistan mobilized 20,000 reservists in 2021 after Afghan troops crossed into Tajikistan in July."
)


def test_names_skip_question_words_and_a_capitalized_first_word() -> None:
    q = "How many troops did Tajikistan send to the Afghan border?"
    assert [q[s:e] for s, e in names_in(q)] == ["Tajikistan", "Afghan"]
    assert names_in("Laypersons can do what?") == []


def test_a_perturbed_question_swaps_what_its_paragraph_mentions_for_what_it_does_not() -> None:
    rng = random.Random(0)
    for question in ("How many reservists did Tajikistan mobilize?", "What did Tajikistan do in 2021?"):
        changed = perturb(question, CONTEXT, ["Kazakhstan", "Tajikistan"], rng)
        assert changed is not None and changed != question
        swapped = {w.strip("?") for w in changed.split()} - {w.strip("?") for w in question.split()}
        assert swapped and not any(w in CONTEXT for w in swapped)


def test_nothing_to_swap_gives_no_question() -> None:
    assert perturb("What did the ministry say?", CONTEXT, ["Kazakhstan"], random.Random(0)) is None


def test_negatives_have_no_answers_and_say_how_they_were_made() -> None:
    tajik = {
        "question": "How many reservists did Tajikistan mobilize?",
        "context": CONTEXT,
        "answers": [["20,000", 21]],
        "distractors": ["Afghan forces retook the district on Monday."],
    }
    other = {**tajik, "question": "Who leads Kazakhstan?", "context": "Kazakhstan is led by its president."}
    records = [tajik, other] * 10
    out = on_topic_negatives(records, 0.5, random.Random(1))
    assert out and all(r["answers"] == [] for r in out)
    assert {r["negative"] for r in out} == {"removed", "perturbed"}
    assert all(r["context"] == "" for r in out if r["negative"] == "removed")
