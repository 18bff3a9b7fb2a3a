"""News articles: the fields they state about themselves, the formats they arrive in, and
stores written before either existed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from index.local.store import PassageStore
from index.text.article import ArticleError, date_bound, detect_article, normalize_published
from index.text.corpus import CorpusError, scan_corpus
from index.text.formats import FormatError, read_document
from index.text.page_meta import clean_headline, plausible_published
from index.text.paragraphs import document_title, split_paragraphs
from qa.errors import InvalidDocument, InvalidRequest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"

# What each seed article states about itself, checked by reading each file: 001 names its
# headline and the outlet that first published it, 002 its date line, headline and outlet;
# 000, 003 and 004 state none (a date or an agency inside a sentence is not the article's own).
SEED_FIELDS = {
    "000_a764001855818956": (None, None, None),
    "001_b6733ea8aba2a067": (
        "Tajikistan reinforces border as Afghan forces collapse under Taliban offensive",
        None,
        "Radio Free Europe/Radio Liberty",
    ),
    "002_c893cae8a75fbf29": (
        "Afghan government mulls offensive after losing key battles to Taliban",
        "2021-07-05",
        "AFP",
    ),
    "003_9e887223774c4d77": (None, None, None),
    "004_0b86c02cdc35424d": (None, None, None),
}


@pytest.mark.parametrize("doc_id", sorted(SEED_FIELDS))
def test_each_seed_article_states_its_headline_date_and_outlet(doc_id: str) -> None:
    found = detect_article((SEEDS / f"{doc_id}.txt").read_text(encoding="utf-8"))
    assert (found.title, found.published, found.source) == SEED_FIELDS[doc_id]
    names = ("title", "published", "source")
    assert found.detected == {n for n, v in zip(names, SEED_FIELDS[doc_id], strict=True) if v}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "KABUL (Reuters) - Afghan forces retook a district on Monday, officials said.",
            (None, None, "Reuters"),
        ),
        (
            "Floods close the Khorog road\nPublished: 3 August 2022\n\nThe road to Khorog was closed "
            "by floods on Tuesday, officials of the province said in a statement.",
            ("Floods close the Khorog road", "2022-08-03", None),
        ),
        (
            "The ministry said on July 3, 2021 that more than 300 soldiers had crossed the border at night.",
            (None, None, None),
        ),
        (
            "KABUL, Afghanistan (AP) \u2014 Taliban fighters took a border crossing on Friday.",
            (None, None, "AP"),
        ),
        (
            "Afghanistan: Taliban seize a border crossing\nBy Jane Doe\nMonday, July 5, 2021 10:30 AM EDT\n\n"
            "Taliban fighters took the main border crossing with Tajikistan, officials said on Monday.",
            ("Afghanistan: Taliban seize a border crossing", "2021-07-05", None),
        ),
        (
            "By Jane Doe\n\nTaliban fighters took the main border crossing with Tajikistan, officials said.",
            (None, None, None),
        ),
        (
            "SOURCE: Asia-Plus\nBorder reopens to trucks\n\nThe border crossing reopened to trucks.",
            ("Border reopens to trucks", None, "Asia-Plus"),
        ),
        (
            "Subscribe to our newsletter!\nBorder reopens to trucks\nSource: Asia-Plus",
            ("Border reopens to trucks", None, "Asia-Plus"),
        ),
    ],
)
def test_detection_takes_what_an_article_states_not_its_prose(
    text: str, expected: tuple[str | None, ...]
) -> None:
    found = detect_article(text)
    assert (found.title, found.published, found.source) == expected


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        ("2021-07-05", "2021-07-05"),
        ("July 5, 2021", "2021-07-05"),
        ("5 Jul 2021", "2021-07-05"),
        ("2021-07-05T09:30:00Z", "2021-07-05T09:30:00+00:00"),
        ("2021-07-05T09:30:00+05:00", "2021-07-05T09:30:00+05:00"),
        ("2021-07-05 09:30", "2021-07-05T09:30:00+00:00"),
    ],
)
def test_publication_dates_are_normalized_to_iso(value: str, iso: str) -> None:
    assert normalize_published(value) == iso


@pytest.mark.parametrize("value", ["yesterday", "2021-02-30", "", "July 2021", "12/07/2021"])
def test_a_date_that_is_not_one_is_refused(value: str) -> None:
    with pytest.raises(ArticleError):
        normalize_published(value)


def test_a_date_bound_covers_its_whole_day() -> None:
    start, end = date_bound("2021-07-05", end_of_day=False), date_bound("2021-07-05", end_of_day=True)
    assert 86_399 < end - start < 86_400
    assert date_bound("2021-07-05T12:00:00Z", end_of_day=True) == start + 12 * 3600


def assert_exact(doc: object) -> None:
    text = doc.text  # type: ignore[attr-defined]
    for p in split_paragraphs(text):
        assert text[p.start : p.end] == p.text


def test_front_matter_gives_the_fields_and_is_not_part_of_the_text() -> None:
    raw = (
        b"---\ntitle: Border reopens\npublished: 2021-07-09\nsource: Asia-Plus\n"
        b"url: https://example.org/a\ndesk: asia\n---\n"
        b"The border crossing at Khorog reopened to trucks on Friday, officials in the province said.\n"
    )
    (doc,) = read_document("note.txt", raw)
    assert doc.text.startswith("The border crossing")
    a = doc.article
    assert (a.title, a.published, a.source, a.url) == (
        "Border reopens",
        "2021-07-09",
        "Asia-Plus",
        "https://example.org/a",
    )
    assert a.detected == frozenset() and doc.metadata == {"desk": "asia"}
    assert_exact(doc)


def test_a_sidecar_json_gives_the_fields_of_its_file(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(
        "Officials said the border crossing at Khorog reopened to trucks on Tuesday.\n"
    )
    (tmp_path / "a.json").write_text(
        json.dumps({"title": "Khorog reopens", "published": "2021-07-06", "lang": "en"})
    )
    (doc,) = scan_corpus(tmp_path).files
    assert (doc.article.title, doc.article.published, doc.metadata) == (
        "Khorog reopens",
        "2021-07-06",
        {"lang": "en"},
    )
    plain = read_document("a.txt", (tmp_path / "a.txt").read_bytes())[0]
    assert doc.sha256 != plain.sha256  # a changed sidecar re-indexes its document


HTML = """<!doctype html><html><head><title>Tajikistan mobilizes reservists | Daily Courier</title>
<meta property="og:site_name" content="Daily Courier">
<meta property="og:title" content="Tajikistan mobilizes 20,000 reservists">
<meta property="article:published_time" content="2021-07-06T08:00:00Z">
<link rel="canonical" href="https://courier.example/tajik-reservists"></head>
<body><nav><a href="/">Home</a> | <a href="/world">World</a></nav>
<article><h1>Tajikistan mobilizes 20,000 reservists</h1>
<p>Tajikistan has mobilized 20,000 military reservists to strengthen its border with Afghanistan,
officials said on Tuesday, after more than a thousand Afghan troops fled across it.</p>
<p>President Emomali Rakhmon spoke with the leaders of Russia and Kazakhstan about the situation
on the border, his office said in a statement published late on Monday.</p></article>
<footer>Copyright 2021 Daily Courier. All rights reserved.</footer></body></html>"""


def test_an_html_page_gives_its_main_text_headline_date_and_site() -> None:
    (doc,) = read_document("courier-1.html", HTML.encode())
    assert doc.doc_id == "courier-1"
    assert "20,000 military reservists" in doc.text and "Home" not in doc.text and "Copyright" not in doc.text
    a = doc.article
    assert (a.title, a.published, a.source) == (
        "Tajikistan mobilizes 20,000 reservists",
        "2021-07-06T08:00:00+00:00",  # the time the page declares, kept
        "Daily Courier",
    )
    assert a.url == "https://courier.example/tajik-reservists"
    assert {"title", "published", "source"} <= a.detected
    assert_exact(doc)


FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Asia Wire</title><link>https://wire.example</link>
<item><title>Afghan soldiers cross into Tajikistan</title><link>https://wire.example/1</link>
<guid>wire-1</guid><pubDate>Sat, 03 Jul 2021 10:00:00 GMT</pubDate>
<description>&lt;p&gt;More than 300 Afghan soldiers crossed into Tajikistan as the Taliban captured more
territory in the north, the border service said.&lt;/p&gt;</description></item>
<item><title>Tajikistan calls up reservists</title><link>https://wire.example/2</link>
<guid>wire-2</guid><pubDate>Mon, 05 Jul 2021 16:30:00 GMT</pubDate>
<description>Tajikistan called up 20,000 reservists to reinforce its border with Afghanistan
on Monday.</description></item>
</channel></rss>"""


def test_a_feed_gives_one_document_per_entry_with_its_date_and_link() -> None:
    docs = read_document("asia-wire.rss", FEED.encode())
    assert [d.article.title for d in docs] == [
        "Afghan soldiers cross into Tajikistan",
        "Tajikistan calls up reservists",
    ]
    assert [d.article.published for d in docs] == ["2021-07-03T10:00:00+00:00", "2021-07-05T16:30:00+00:00"]
    assert [d.article.url for d in docs] == ["https://wire.example/1", "https://wire.example/2"]
    assert {d.article.source for d in docs} == {"Asia Wire"}
    assert all(d.doc_id.startswith("asia-wire-") for d in docs)
    # The headline is stored above the body, so that it is read and cited like a paragraph.
    assert "<p>" not in docs[0].text
    assert docs[0].text.startswith(f"{docs[0].article.title}\n\nMore than 300")
    # The same entry keeps its id when the feed is read again with more entries.
    again = read_document(
        "asia-wire.rss",
        FEED.replace(
            "<item>", "<item><guid>new</guid><title>x</title><description>New.</description></item><item>", 1
        ).encode(),
    )
    assert {d.doc_id for d in docs} <= {d.doc_id for d in again}
    for doc in docs:
        assert_exact(doc)


def test_json_lines_give_their_documents_and_a_bad_line_is_named() -> None:
    lines = [
        {
            "doc_id": "w1",
            "text": "The border crossing reopened to trucks on Tuesday, officials said.",
            "published": "2021-07-06",
            "source": "Wire",
        },
        {
            "doc_id": "w2",
            "text": "More than 300 soldiers crossed the border on Saturday, the border service said.",
            "metadata": {"desk": "asia"},
        },
    ]
    docs = read_document("export.jsonl", "\n".join(json.dumps(x) for x in lines).encode())
    assert [(d.doc_id, d.article.published, d.article.source, d.metadata) for d in docs] == [
        ("w1", "2021-07-06", "Wire", {}),
        ("w2", None, None, {"desk": "asia"}),
    ]
    bad = [json.dumps(lines[0]), "{not json", json.dumps(lines[1])]
    with pytest.raises(FormatError, match=r"export\.jsonl: line 2: not JSON"):
        read_document("export.jsonl", "\n".join(bad).encode())
    with pytest.raises(FormatError, match="line 1: published 'soon' is not a date"):
        read_document("export.jsonl", json.dumps({**lines[0], "published": "soon"}).encode())
    with pytest.raises(FormatError, match="unknown field 'body'"):
        read_document("export.jsonl", json.dumps({"doc_id": "x", "body": "y"}).encode())


def test_one_bad_file_in_a_folder_is_named_and_loses_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text(
        "Officials said the border crossing at Khorog reopened to trucks on Tuesday.\n"
    )
    (tmp_path / "broken.jsonl").write_text('{"doc_id": "a", "text": "fine text here"}\n{oops\n')
    (tmp_path / "bad name!.txt").write_text(
        "Some text that is long enough to be a paragraph of prose here.\n"
    )
    with pytest.raises(CorpusError) as refused:
        scan_corpus(tmp_path)
    message = str(refused.value)
    assert (
        message.startswith(f"2 entries of {tmp_path} cannot be indexed") and "nothing was changed" in message
    )
    assert "broken.jsonl: line 2: not JSON" in message
    assert "bad name!.txt" in message and "letters, digits" in message
    skipped: list = []
    scan = scan_corpus(tmp_path, skipped)
    # Skipping leaves out the bad file and the bad line, not the good line of the same file.
    assert [f.doc_id for f in scan.files] == ["a", "good"] and len(skipped) == 2
    assert any("line 2" in why for _, why in skipped)
    assert scan.unknown  # the bad line's document is unknown: nothing of the folder may be removed


def test_a_store_written_before_article_fields_is_migrated(tmp_path: Path) -> None:
    """A data directory of an earlier version: its documents get the fields their text
    states (marked detected), a derived title gives way to a detected headline, a title
    that was given stays, and the passages (and the write generation) are untouched."""
    path = tmp_path / "store.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE documents (doc_id TEXT PRIMARY KEY, title TEXT NOT NULL, text TEXT NOT NULL,
            metadata TEXT NOT NULL, source TEXT NOT NULL, sha256 TEXT NOT NULL);
        CREATE TABLE passages (id INTEGER PRIMARY KEY AUTOINCREMENT, doc_id TEXT NOT NULL
            REFERENCES documents(doc_id) ON DELETE CASCADE, paragraph INTEGER NOT NULL,
            start INTEGER NOT NULL, end INTEGER NOT NULL, text TEXT NOT NULL, vector BLOB NOT NULL);
        CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO state VALUES ('generation', '7');
        INSERT INTO state VALUES ('metadata_index', '1');
        """
    )
    seed = (SEEDS / "002_c893cae8a75fbf29.txt").read_text(encoding="utf-8")
    db.execute(
        "INSERT INTO documents VALUES (?, ?, ?, '{}', 'api', '')",
        ("seed", document_title(seed), seed),
    )
    db.execute(
        "INSERT INTO documents VALUES (?, ?, ?, '{}', 'api', '')",
        ("named", "A title someone gave", seed),
    )
    db.execute(
        "INSERT INTO passages (doc_id, paragraph, start, end, text, vector) "
        "VALUES ('seed', 0, 0, 5, 'x', x'00')"
    )
    db.commit()
    db.close()
    store = PassageStore(path)
    try:
        doc = store.get_document("seed")
        assert doc is not None
        assert (doc.title, doc.published, doc.outlet) == (
            "Afghan government mulls offensive after losing key battles to Taliban",
            "2021-07-05",
            "AFP",
        )
        assert doc.provenance == {"title": "detected", "published": "detected", "source": "detected"}
        named = store.get_document("named")
        assert (
            named is not None
            and named.title == "A title someone gave"
            and named.provenance["title"] == "given"
        )
        assert store.generation == 7 and store.counts() == (2, 1)
        assert [r.doc_id for r in store.list_documents(order="published")] == ["named", "seed"]
    finally:
        store.close()


def test_the_engine_takes_article_fields_and_checks_them(make_engine) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(reader=False)
    text = "Officials said the border crossing at Khorog reopened to trucks on Tuesday after a week."
    engine.add(
        "given",
        text,
        title="Khorog reopens",
        published="July 6, 2021",
        source="Asia-Plus",
        url="https://a.example/x",
    )
    doc = engine.document("given")
    assert (doc.title, doc.published, doc.source, doc.url, doc.detected) == (
        "Khorog reopens",
        "2021-07-06",
        "Asia-Plus",
        "https://a.example/x",
        [],
    )
    engine.add("plain", text)
    plain = engine.document("plain")
    assert plain.title_from_text and plain.published is None
    with pytest.raises(InvalidDocument, match="not a date"):
        engine.add("bad-date", text, published="last Tuesday")
    with pytest.raises(InvalidDocument, match="not an http"):
        engine.add("bad-url", text, url="javascript:alert(1)")
    assert "bad-date" not in {d.doc_id for d in engine.documents()}
    engine.add("dated", text, published="2021-07-05")
    assert engine.search("border", published_after="2021-07-07", published_before="2021-07-01").passages == []
    with pytest.raises(InvalidRequest, match="not a date"):
        engine.search("border", published_after="soon")


def test_a_reply_says_when_its_answers_come_from_different_dates() -> None:
    from qa.reading.articles import dates_note
    from qa.schemas import Answer

    def answer(text: str, *dates: str) -> Answer:
        return Answer(text=text, score=0.5, citations=[], dates=list(dates))

    note = dates_note([answer("1,030", "2021-07-05"), answer("more than 300", "2021-07-03")])
    assert note is not None and "1,030" in note and "2021-07-05" in note and "2021-07-03" in note
    assert dates_note([answer("1,030", "2021-07-05"), answer("1,030", "2021-07-03")]) is None  # one figure
    assert dates_note([answer("1,030", "2021-07-05"), answer("300", "2021-07-05")]) is None  # one date
    assert dates_note([answer("1,030", "2021-07-05"), answer("300")]) is None  # undated


def test_one_import_is_bounded_in_documents(make_engine) -> None:  # type: ignore[no-untyped-def]
    from qa.errors import DocumentTooLarge

    engine = make_engine(reader=False)
    lines = [
        json.dumps({"doc_id": f"d{n}", "text": f"Note {n} about the ferry to the island on Sunday."})
        for n in range(1001)
    ]
    with pytest.raises(DocumentTooLarge, match="at most 1,000"):
        engine.import_file("big.jsonl", "\n".join(lines).encode())
    assert engine.documents() == []  # nothing of it was written


def test_a_feed_entry_without_guid_or_link_keeps_its_id_when_the_feed_changes() -> None:
    """Ids by position would give a new story an old story's id when an entry is added on top."""
    from index.text.formats import read_document

    def feed(*items: tuple[str, str]) -> bytes:
        entries = "".join(f"<item><title>{t}</title><description>{d}</description></item>" for t, d in items)
        head = "<?xml version='1.0'?><rss version='2.0'><channel><title>W</title>"
        return f"{head}{entries}</channel></rss>".encode()

    old = ("Ferry back", "The ferry to the island resumed on Sunday after the storm.")
    new = ("Market open", "The market in the old town reopened on Monday morning.")
    first = {d.text: d.doc_id for d in read_document("wire.rss", feed(old))}
    again = {d.text: d.doc_id for d in read_document("wire.rss", feed(new, old))}
    [(text, doc_id)] = first.items()
    assert again[text] == doc_id and len(set(again.values())) == 2


PAGE_WITH_METADATA = """<html><head>
<title>Tajikistan calls up 20,000 reservists | CNN Politics</title>
<meta property="og:site_name" content="CNN">
<meta property="article:modified_time" content="2021-07-09T12:00:00Z">
<meta property="article:published_time" content="0001-01-01T00:00:00Z">
<script type="application/ld+json">{"@context": "https://schema.org", "@graph": [{"@type": "NewsArticle",
 "headline": "Tajikistan calls up 20,000 reservists &#8211; CNN Politics",
 "datePublished": "2021-07-06T08:30:00-04:00", "dateModified": "2021-07-09T12:00:00Z"}]}</script>
</head><body><article><h1>Tajikistan calls up 20,000 reservists</h1>
<p>Tajikistan has mobilized 20,000 military reservists to strengthen its border with Afghanistan,
officials in Dushanbe said on Tuesday.</p>
<p>More than a thousand Afghan troops fled a Taliban offensive and sought refuge in the country.</p>
<p>Updated on July 9, 2021 with the government's statement.</p>
</article></body></html>"""


def test_a_page_gives_its_headline_without_the_site_and_its_published_not_modified_time() -> None:
    (doc,) = read_document("cnn.html", PAGE_WITH_METADATA.encode())
    a = doc.article
    assert a.title == "Tajikistan calls up 20,000 reservists"  # entity decoded, the site's name cut
    assert a.published == "2021-07-06T08:30:00-04:00"  # declared, with its time; not when modified
    assert a.source == "CNN" and {"title", "published", "source"} <= a.from_page
    assert_exact(doc)


@pytest.mark.parametrize(
    ("title", "sites", "headline"),
    [
        ("Germany votes | DW | 19.01.2020", ("DW",), "Germany votes"),
        ("Nadal keeps Spain alive - Sportsnet.ca", ("sportsnet.ca",), "Nadal keeps Spain alive"),
        ("Meth campaign doubles down | TheHill", ("thehill.com",), "Meth campaign doubles down"),
        ("Fresh air for Rs 300? - News Nation", ("newsnationtv.com",), "Fresh air for Rs 300?"),
        ("Price of <span class='webrupee'>&#8377;</span>300 set", (), "Price of \u20b9300 set"),
        (
            "Remake per Netflix - Remember 80/90 - Memorabilia",
            ("Remember 80/90 - Memorabilia",),
            "Remake per Netflix",
        ),
        # Words a long site name contains, or the site's name opening a headline, stay.
        ("Storm hits - New York", ("The New York Times",), "Storm hits - New York"),
        ("9to5Mac Gift Guide: what to buy", ("9to5mac.com",), "9to5Mac Gift Guide: what to buy"),
        ("Trump: talks go on", ("Reuters",), "Trump: talks go on"),
    ],
)
def test_a_site_name_is_cut_from_a_headline_and_nothing_else(
    title: str, sites: tuple[str, ...], headline: str
) -> None:
    assert clean_headline(title, sites) == headline


def test_a_placeholder_or_future_date_is_no_publication_date() -> None:
    assert plausible_published("0001-01-01T00:00:00Z") is None
    assert plausible_published("2999-01-01") is None
    assert plausible_published("November 19, 2019, 07:47 PM EST") == "2019-11-19"


NEWS = ROOT.parent / "shared" / "eval" / "news"


@pytest.mark.skipif(not (NEWS / "pages").is_dir(), reason="needs ../shared/eval/news (CI has it)")
def test_real_pages_give_the_headline_and_date_they_declare() -> None:
    """The 133 real pages: headline and publication date as each page declares them (JSON-LD,
    Open Graph), read right at least 97 times in 100 (`qa eval articles`)."""
    from qa.evaluation.articles import run

    report = run(NEWS)
    assert report["title"]["right_share"] >= 0.97, report["title"]
    assert report["published"]["right_share"] >= 0.97, report["published"]


def test_the_day_shown_is_the_day_the_filters_give(make_engine) -> None:
    """An article dated 05:00 on 5 July at +14:00 is 15:00 on 4 July in UTC: it is shown as
    4 July and the date filters put it on 4 July; its stored date keeps its offset."""
    from index.text.article import published_day

    engine = make_engine(reader=False)
    text = "Officials in Tarawa said the new harbour wall was finished on Monday after two years of work."
    engine.add("kiribati", text, published="2021-07-05T05:00:00+14:00")
    assert engine.document("kiribati").published == "2021-07-05T05:00:00+14:00"
    assert (
        published_day("2021-07-05T05:00:00+14:00") == "2021-07-04"
        and published_day("2021-07-05") == "2021-07-05"
    )
    query = "When was the harbour wall in Tarawa finished?"
    assert not engine.search(query, k=5, published_after="2021-07-05").passages
    on_the_4th = engine.search(query, k=5, published_after="2021-07-04", published_before="2021-07-04")
    assert {p.doc_id for p in on_the_4th.passages} == {"kiribati"}
