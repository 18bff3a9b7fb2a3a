"""Wire copies: one text under several outlets' names is one source (``qa.retrieval.copies``)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from qa.retrieval.copies import are_copies, shingles, sources

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
NEWS = ROOT.parent / "shared" / "eval" / "news"

STORY = (
    "Tajikistan has mobilized 20,000 military reservists to strengthen its southern border with "
    "Afghanistan, the country's emergency committee said on Monday, after more than a thousand Afghan "
    "soldiers fled a Taliban offensive and crossed the river into Tajik territory over the weekend."
)


def test_a_syndicated_copy_is_one_source_and_independent_reports_are_not() -> None:
    copied = (
        "DUSHANBE (AP) - " + STORY.replace("on Monday", "Monday") + " Copyright 2021 The Associated Press."
    )
    own_words = (
        "Some 20,000 reservists were called up on Monday to guard the Afghan frontier, Tajik officials "
        "announced, as soldiers fleeing the Taliban kept arriving across the Panj river."
    )
    assert are_copies(shingles(STORY), shingles(copied))
    assert not are_copies(shingles(STORY), shingles(own_words))
    assert not are_copies(shingles("Tajikistan mobilizes"), shingles("Tajikistan mobilizes"))  # too short
    # Passage by passage, best first: a copied paragraph goes with the first that says it;
    # one whose figure was changed is another statement; the rest of a copying article is its own.
    reprinted = "DUSHANBE (AP) - " + STORY
    changed = STORY.replace("20,000", "25,000")
    texts = [
        STORY,
        reprinted,
        own_words,
        changed,
        "The weather in Dushanbe was sunny and warm all week long.",
    ]
    assert sources(["wire", "local", "outlet", "other", "local"], texts) == [
        "wire",
        "wire",
        "outlet",
        "other",
        "local",
    ]


def test_a_question_reads_a_passage_its_page_shows_twice_once() -> None:
    """A page that shows its headline (or a pull quote) twice gives one passage to read, not
    two of the question's few; the same words in another article are kept for what they say."""
    from qa.retrieval.copies import distinct
    from qa.schemas import Passage

    def passage(doc_id: str, paragraph: int, text: str) -> Passage:
        return Passage(doc_id=doc_id, paragraph=paragraph, start=0, end=len(text), text=text, score=0.5)

    found = [
        passage("mac", 0, "13-Inch MacBook Pro With Scissor Keyboard Expected in 2020"),
        passage("mac", 3, "13-inch MacBook Pro with scissor keyboard expected in 2020."),
        passage("other", 0, "13-Inch MacBook Pro With Scissor Keyboard Expected in 2020"),
        passage("mac", 4, "The report says the keyboard comes from Wistron, according to DigiTimes."),
    ]
    assert [(p.doc_id, p.paragraph) for p in distinct(found)] == [("mac", 0), ("other", 0), ("mac", 4)]


@pytest.mark.skipif(
    not (NEWS / "ground-truth.json").is_file(), reason="needs ../shared/eval/news (CI has it)"
)
def test_no_two_of_the_real_pages_are_copies() -> None:
    """Read by hand: the 133 pages hold no syndicated copy. Stories covered by several
    outlets (the South Dakota anti-meth campaign at The Hill, NJ.com, USA Today and the
    Spokesman-Review; the impeachment hearings at CBS, AP and Deccan Herald; the Beijing
    plague case at The Sun, Express and Smithsonian) are each outlet's own words, and two
    pages of one site share boilerplate only: none of them is one source."""
    truth = json.loads((NEWS / "ground-truth.json").read_text(encoding="utf-8"))
    bodies = {page: shingles(item["body"]) for page, item in truth.items()}
    copies = [
        (a, b) for a, b in itertools.combinations(sorted(bodies), 2) if are_copies(bodies[a], bodies[b])
    ]
    assert copies == []


WIRE = "\n\n".join(
    [
        ("Khorog bridge reopens after repairs"),
        (
            "The bridge over the Gunt river in Khorog reopened to traffic on Tuesday after 12 days of "
            "repairs, the regional governor's office said in a statement."
        ),
        (
            "Engineers replaced two spans that the spring floods had damaged, and trucks carrying "
            "coal to the Chinese border were the first to cross, the statement said."
        ),
        (
            "Traders in the city market said prices of flour and fuel had risen by a third while the "
            "bridge was closed."
        ),
    ]
)

OWN_WORDS = "\n\n".join(
    [
        ("Traffic returns to Khorog"),
        (
            "Drivers queued from dawn on Tuesday to cross the Gunt, where the bridge opened again "
            "once workers finished twelve days of repairs, according to residents reached by phone."
        ),
        (
            "A local official said the repairs cost about 3 million somoni and were paid for by the "
            "regional budget."
        ),
    ]
)


def test_an_answer_cites_a_wire_story_once_with_its_copies(make_engine, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "wire.txt").write_text(WIRE, encoding="utf-8")
    reprint = (
        "Reprinted from the Asia Wire service.\n\n" + WIRE + "\n\nCopyright Pamir Daily. All rights reserved."
    )
    (corpus / "pamir-daily.txt").write_text(reprint, encoding="utf-8")
    (corpus / "radio.txt").write_text(OWN_WORDS, encoding="utf-8")
    engine = make_engine(corpus)
    reply = engine.ask("When did the bridge in Khorog reopen?")
    assert (
        len({p.doc_id for p in reply.passages if "12 days of repairs" in p.text}) == 1
    )  # a copy is read once
    top = reply.answers[0]
    assert top.text == "Tuesday"
    cited = {c.doc_id: c for c in top.citations}
    assert len({"wire", "pamir-daily"} & set(cited)) == 1  # one source, cited once
    kept = cited.get("wire") or cited["pamir-daily"]
    (copy,) = kept.copies
    assert {kept.doc_id, copy.doc_id} == {"wire", "pamir-daily"}
    text = engine.document(copy.doc_id).text
    assert text[copy.start : copy.end] == "Tuesday" and copy.title  # exact, and named like a citation
    # Each document says which documents are its copies; an outlet's own report has none.
    assert engine.document("wire").copies == ["pamir-daily"]
    assert engine.document("pamir-daily").copies == ["wire"]
    assert engine.document("radio").copies == []
