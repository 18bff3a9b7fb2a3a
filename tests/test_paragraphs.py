from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from index.text.paragraphs import document_title, raw_paragraphs, split_paragraphs
from tests.conftest import SEEDS

WORDS = st.sampled_from(
    ["Taliban", "border", "troops", "said", "on", "July", "5,", "the", "20,000", "“fled”"]
)
LINE = st.lists(WORDS, min_size=1, max_size=20).map(" ".join)
ENDING = st.sampled_from([".", "", "!", "?", '."'])
BREAK = st.sampled_from(["\n", "\n\n", "\n \n", "\r\n", "\n\n\n"])
TEXT = st.lists(st.tuples(LINE, ENDING, BREAK), max_size=12).map(
    lambda parts: "".join(line + end + sep for line, end, sep in parts)
)


@given(st.one_of(TEXT, st.text(max_size=400)))
def test_every_paragraph_is_its_own_slice_in_order(text: str) -> None:
    last_end = 0
    for p in raw_paragraphs(text):
        assert text[p.start : p.end] == p.text
        assert p.text == p.text.strip() and p.text
        assert p.start >= last_end
        last_end = p.end
    kept = split_paragraphs(text)
    assert all(p in raw_paragraphs(text) for p in kept)


def test_one_paragraph_per_line_and_blank_line_layouts() -> None:
    lines = (
        "First line says that the troops fled into the country overnight.\n"
        "Second line reports that 20,000 reservists were sent to the border.\n"
    )
    assert [p.text for p in split_paragraphs(lines)] == lines.strip().split("\n")
    blank = lines.replace("\n", "\n\n")
    assert [p.text for p in split_paragraphs(blank)] == lines.strip().split("\n")


def test_hard_wrapped_block_stays_one_paragraph() -> None:
    text = (
        "The Tajik Border Service said the situation became complicated after\n"
        "several villages and a border post in the northwestern part of the province\n"
        "fell to the Taliban, forcing soldiers to retreat across the river.\n"
    )
    paragraphs = split_paragraphs(text)
    assert len(paragraphs) == 1 and paragraphs[0].text == text.strip()


def test_seed_furniture_is_left_out_and_content_kept() -> None:
    texts = {p.stem: p.read_text(encoding="utf-8") for p in SEEDS.glob("*.txt")}
    kept = [p.text for t in texts.values() for p in split_paragraphs(t)]
    for furniture in ("Your browser doesn", "Join our brand new", "SEE ALSO:", "SOURCE:AFP", "KEY POINTS"):
        assert not any(furniture in p for p in kept), furniture
    assert any(p.startswith("Tajikistan has mobilized 20,000 military reservists") for p in kept)
    assert any("Shir Khan Bandar" in p for p in kept)


def test_title_skips_furniture() -> None:
    text = (SEEDS / "001_b6733ea8aba2a067.txt").read_text(encoding="utf-8")
    assert (
        document_title(text)
        == "Tajikistan reinforces border as Afghan forces collapse under Taliban offensive"
    )
    text = (SEEDS / "002_c893cae8a75fbf29.txt").read_text(encoding="utf-8")
    assert document_title(text) == "Afghan government mulls offensive after losing key battles to Taliban"


@given(TEXT, st.integers(min_value=20, max_value=200))
def test_long_paragraphs_become_bounded_passages_with_exact_offsets(text: str, limit: int) -> None:
    raw = {(p.start, p.end) for p in raw_paragraphs(text)}
    last_end = 0
    for p in split_paragraphs(text, limit=limit):
        assert text[p.start : p.end] == p.text and p.text == p.text.strip()
        assert len(p.text) <= limit
        assert p.start >= last_end
        last_end = p.end
        # Every passage lies inside one paragraph of the document.
        assert any(s <= p.start and p.end <= e for s, e in raw)


def test_a_one_line_megabyte_document_is_many_small_passages() -> None:
    sentence = "The committee said the border crossing at Khorog reopened to trucks on Monday. "
    text = sentence * 12_500  # ~1 MB on one line
    passages = split_paragraphs(text)
    assert len(passages) > 300 and max(len(p.text) for p in passages) <= 3000
    assert all(p.text.endswith("Monday.") for p in passages)  # cut after sentences
    assert "".join(text[p.start : p.end + 1] for p in passages).strip() == text.strip()


def test_long_titles_are_cut_at_a_word() -> None:
    text = "Officials " + "said the border crossing reopened " * 20 + "today."
    title = document_title(text)
    assert len(title) <= 200 and title.endswith("…")
    assert text.startswith(title[:-1]) and text[len(title) - 1] == " "


def test_long_text_is_kept_however_it_ends_and_short_furniture_is_not() -> None:
    long_colon = " ".join(["The council listed several reasons for the decision in its statement"] * 4) + ":"
    cited = "The river is the longest in the province and feeds three lakes.[citation needed]"
    caption = "Map of the province locating the main border crossing with the river. AFP / STAFF"
    text = "\n\n".join([long_colon, cited, caption])
    kept = [p.text for p in split_paragraphs(text)]
    assert kept == [long_colon, cited]


def test_bullet_items_and_short_fact_lines_are_read_labels_are_not() -> None:
    text = (
        "KEY POINTS\n\n"
        "  • More than 1,000 Afghan soldiers crossed the Tajikistan border\n"
        "  • Talks\n\n"
        "The deal closed at $2 billion.\n\n"
        "Read more\n\n"
        "Photo: AFP"
    )
    kept = [p.text for p in split_paragraphs(text)]
    assert kept == [
        "• More than 1,000 Afghan soldiers crossed the Tajikistan border",
        "The deal closed at $2 billion.",
    ]


def test_the_headline_is_a_passage_when_it_is_the_title() -> None:
    text = "Tajikistan mobilizes reservists\n\nThe country sent 20,000 reservists to its border on Monday."
    assert [p.text for p in split_paragraphs(text)] == [text.split("\n\n")[1]]
    with_title = split_paragraphs(text, title="Tajikistan  mobilizes reservists")
    assert [text[p.start : p.end] for p in with_title] == text.split("\n\n")


def test_a_document_with_no_paragraph_of_prose_keeps_its_short_lines() -> None:
    summary = "Fed holds rates steady"
    assert [p.text for p in split_paragraphs(summary)] == [summary]
    assert split_paragraphs("Share\n\nMenu") == []
