"""The open-book benchmark's corpus split (pure; a tiny SQuAD-shaped file)."""

from __future__ import annotations

from index.text.corpus import valid_doc_id
from index.text.paragraphs import split_paragraphs
from qa.evaluation.open_squad import Outcome, holds, open_book, summarize
from qa.schemas import Passage

CONTEXT = "The {t} article says that its river is {n} kilometres long and flows to the sea."


def _data(n_articles: int = 6) -> list[dict]:
    data = []
    for a in range(n_articles):
        title = f"Article {a}/x"
        paragraphs = []
        for p in range(3):
            context = CONTEXT.format(t=f"{a}-{p}", n=100 * a + p)
            qas = [
                {
                    "id": f"q{a}-{p}-{q}",
                    "question": f"How long is river {a}-{p} ({q})?",
                    "answers": [{"text": str(100 * a + p), "answer_start": context.index(str(100 * a + p))}],
                }
                for q in range(2)
            ]
            paragraphs.append({"context": context, "qas": qas})
        data.append({"title": title, "paragraphs": paragraphs})
    return data


def test_half_the_articles_are_the_corpus_and_the_rest_must_be_abstained_on() -> None:
    book = open_book(_data(), seed=3)
    assert len(book.documents) == 3
    assert len(book.answerable) == len(book.unanswerable) == 3 * 3 * 2
    inside = {d.doc_id for d in book.documents}
    assert {e.doc_id for e in book.answerable} == inside
    assert all(e.doc_id is None and not e.answers for e in book.unanswerable)
    answerable, held_out = {e.qid for e in book.answerable}, {e.qid for e in book.unanswerable}
    assert not answerable & held_out and len(answerable | held_out) == 6 * 3 * 2
    # No held-out question's answer is stated in the corpus (every answer here is unique).
    corpus = " ".join(d.text for d in book.documents)
    held_answers = {q["answers"][0]["text"] for a in _data() for p in a["paragraphs"] for q in p["qas"]}
    held_answers -= {a for e in book.answerable for a in e.answers}
    assert held_answers and not any(f" {a} kilometres" in corpus for a in held_answers)
    for doc in book.documents:
        assert valid_doc_id(doc.doc_id)
        # One document per article, paragraphs separated by blank lines, split back exactly.
        parts = split_paragraphs(doc.text)
        assert [doc.text[p.start : p.end] for p in parts] == doc.text.split("\n\n")
    for e in book.answerable:
        doc = next(d for d in book.documents if d.doc_id == e.doc_id)
        assert all(a in doc.text for a in e.answers)


def test_split_is_deterministic_and_depends_on_the_seed() -> None:
    ids = [tuple(d.doc_id for d in open_book(_data(), seed=s).documents) for s in (1, 1, 2)]
    assert ids[0] == ids[1]
    assert ids[0] != ids[2]


def test_sample_takes_both_sides_equally() -> None:
    book = open_book(_data(), seed=0)
    sample = book.sample(4, seed=0)
    assert sum(bool(e.answers) for e in sample) == 4 and len(sample) == 8
    assert book.sample(4, seed=0) == sample


def test_a_passage_holds_an_answer_only_in_its_own_document() -> None:
    book = open_book(_data(), seed=0)
    e = book.answerable[0]
    text = f"... {e.answers[0]} kilometres ..."
    passage = Passage(doc_id=e.doc_id or "", paragraph=0, start=0, end=len(text), text=text, score=1.0)
    assert holds(passage, e)
    assert not holds(passage.model_copy(update={"doc_id": "another"}), e)


def test_overall_counts_abstention_on_unanswerable_as_one() -> None:
    book = open_book(_data(), seed=0)
    a, u = book.answerable[0], book.unanswerable[0]
    outcomes = [
        Outcome(a, "x", 0.9, 1.0, 1.0, 1.0, 10.0),
        Outcome(a, None, 0.0, 0.0, 0.0, 0.0, 10.0),
        Outcome(u, None, 0.0, 0.0, 0.0, 0.0, 10.0),
        Outcome(u, "y", 0.6, 0.0, 0.0, 0.0, 30.0),
    ]
    report = summarize(outcomes)
    assert report["overall"] == 0.5
    assert report["top1_f1"] == 0.5 and report["answered"] == 0.5
    assert report["unanswerable_abstained"] == 0.5
