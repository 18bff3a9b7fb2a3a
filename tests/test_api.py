"""Every endpoint through TestClient, with good and bad input."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from qa.engine import Engine

QUESTION = "How many troops did Tajikistan mobilize?"


@pytest.fixture(scope="module")
def client(seed_engine: Engine) -> TestClient:
    return TestClient(create_app(seed_engine))


@pytest.fixture
def writable(make_engine, small_corpus) -> TestClient:
    return TestClient(create_app(make_engine(corpus=small_corpus)))


def test_health_and_docs(client: TestClient) -> None:
    health = client.get("/health").json()
    assert health["ready"] and health["documents"] == 5 and health["passages"] > 50
    assert client.get("/docs").status_code == 200
    assert "/search" in client.get("/openapi.json").json()["paths"]


def test_search_passages_obey_the_offset_invariant(client: TestClient) -> None:
    reply = client.get("/search", params={"q": QUESTION, "k": 5}).json()
    passages = reply["passages"]
    assert len(passages) == 5
    assert any(p["text"].startswith("Tajikistan has mobilized 20,000") for p in passages)
    scores = [p["score"] for p in passages]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    for p in passages:
        doc = client.get(f"/documents/{p['doc_id']}").json()
        assert doc["text"][p["start"] : p["end"]] == p["text"]


def test_search_filter_by_doc_id(client: TestClient) -> None:
    reply = client.get("/search", params={"q": QUESTION, "k": 5, "doc_id": "004_0b86c02cdc35424d"}).json()
    assert reply["passages"] and {p["doc_id"] for p in reply["passages"]} == {"004_0b86c02cdc35424d"}


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": ""},
        {"q": "   "},
        {"q": "x", "k": 0},
        {"q": "x", "k": 51},
        {"q": "x", "k": "ten"},
        {"q": "x" * 2001},
    ],
)
def test_search_bad_input_is_a_clear_4xx(client: TestClient, params: dict) -> None:
    response = client.get("/search", params=params)
    assert response.status_code in (400, 422)
    assert response.json()["detail"]


def test_documents_list_and_get(client: TestClient) -> None:
    docs = client.get("/documents").json()["documents"]
    assert len(docs) == 5 and all(d["title"] and d["passages"] > 0 for d in docs)
    one = client.get(f"/documents/{docs[0]['doc_id']}").json()
    assert set(one) == {
        "doc_id",
        "title",
        "text",
        "metadata",
        "published",
        "published_day",
        "source",
        "url",
        "detected",
        "fields_from",
        "title_from_text",
        "copies",
    }
    missing = client.get("/documents/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]


def test_add_search_delete_cycle(writable: TestClient) -> None:
    text = "Officials in Dushanbe said the new customs post on the river opened on Tuesday morning."
    created = writable.post(
        "/documents", json={"doc_id": "customs", "text": text, "metadata": {"desk": "asia"}}
    )
    assert created.status_code == 201 and created.json() == {"doc_id": "customs", "passages": 1}
    duplicate = writable.post("/documents", json={"doc_id": "customs", "text": text})
    assert duplicate.status_code == 409
    hit = writable.get("/search", params={"q": "When did the customs post open?", "k": 1}).json()["passages"][
        0
    ]
    assert hit["doc_id"] == "customs" and hit["text"] == text
    assert writable.get("/documents/customs").json()["metadata"] == {"desk": "asia"}
    assert writable.delete("/documents/customs").status_code == 204
    assert writable.delete("/documents/customs").status_code == 404
    after = writable.get("/search", params={"q": "customs post Dushanbe", "k": 5}).json()["passages"]
    assert all(p["doc_id"] != "customs" for p in after)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"doc_id": "x"}, 422),
        ({"text": "some text"}, 422),
        ({"doc_id": "../etc/passwd", "text": "some text"}, 422),
        ({"doc_id": "a b", "text": "some text"}, 422),
        ({"doc_id": "empty", "text": "   \n  "}, 400),
        ({"doc_id": "x", "text": "t", "extra": 1}, 422),
        ([1, 2], 422),
    ],
)
def test_add_bad_input(writable: TestClient, body: object, status: int) -> None:
    response = writable.post("/documents", json=body)
    assert response.status_code == status and response.json()["detail"]


def test_add_body_that_is_not_json(writable: TestClient) -> None:
    response = writable.post("/documents", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422


def test_app_mounts_inside_another_app(seed_engine: Engine) -> None:
    parent = FastAPI()
    parent.mount("/qa", create_app(seed_engine))
    client = TestClient(parent)
    assert client.get("/qa/health").json()["ready"]
    assert client.get("/qa/search", params={"q": QUESTION}).status_code == 200


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (
            '{"doc_id": "s1", "text": "Officials met on Tuesday to talk.", "metadata": {"k": "\\ud800"}}',
            "metadata",
        ),
        (
            '{"doc_id": "s2", "text": "Officials met on Tuesday to talk.", "metadata": {"\\udfff": 1}}',
            "metadata key",
        ),
        ('{"doc_id": "s3", "text": "Officials met on Tuesday to talk.", "title": "a\\ud800"}', "title"),
        ('{"doc_id": "s4", "text": "Officials met \\ud800 on Tuesday to talk."}', "text"),
    ],
)
def test_lone_surrogates_are_refused_where_they_enter(writable: TestClient, body: str, where: str) -> None:
    reply = writable.post("/documents", content=body, headers={"content-type": "application/json"})
    assert (
        reply.status_code == 400 and "surrogate" in reply.json()["detail"] and where in reply.json()["detail"]
    )
    listing = writable.get("/documents")
    assert listing.status_code == 200
    assert all(not d["doc_id"].startswith("s") for d in listing.json()["documents"])


def test_lone_surrogate_in_a_question_is_a_400(client: TestClient) -> None:
    body = '{"question": "How many troops \\ud800 did Tajikistan mobilize?"}'
    reply = client.post("/ask", content=body, headers={"content-type": "application/json"})
    assert reply.status_code == 400 and "surrogate" in reply.json()["detail"]


def test_metadata_has_size_and_depth_limits(writable: TestClient) -> None:
    text = "Officials met on Tuesday to talk about the border."
    deep: dict = {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}
    reply = writable.post("/documents", json={"doc_id": "deep", "text": text, "metadata": deep})
    assert reply.status_code == 400 and "nested" in reply.json()["detail"]
    reply = writable.post(
        "/documents", json={"doc_id": "big", "text": text, "metadata": {"k": "x" * 100_000}}
    )
    assert reply.status_code == 413 and "metadata" in reply.json()["detail"]
    ok = writable.post("/documents", json={"doc_id": "ok", "text": text, "metadata": {"desk": "asia"}})
    assert ok.status_code == 201


def test_a_long_question_within_the_limit_is_answered(client: TestClient) -> None:
    question = QUESTION + " Please answer with the number of troops that were mobilized." * 28
    assert 1500 < len(question) <= 2000
    reply = client.post("/ask", json={"question": question})
    assert reply.status_code == 200, reply.text


def test_asking_over_a_huge_single_line_document_stays_bounded(writable: TestClient) -> None:
    import time

    filler = "The river authority said the ferry schedule for the island would not change this week. "
    text = filler * 1000 + "The harbour master said the new pier cost 41 million dollars. " + filler * 1000
    assert len(text) > 150_000 and "\n" not in text
    assert writable.post("/documents", json={"doc_id": "huge", "text": text}).status_code == 201
    t0 = time.perf_counter()
    reply = writable.post("/ask", json={"question": "How much did the new pier cost?", "top_k": 5})
    assert reply.status_code == 200
    assert time.perf_counter() - t0 < 10
    passages = reply.json()["passages"]
    assert passages and all(len(p["text"]) <= 3000 for p in passages)


def test_validation_errors_never_echo_the_input(client: TestClient) -> None:
    question = "Why " * 600  # over the 2,000-character limit
    reply = client.post("/ask", json={"question": question})
    assert reply.status_code == 422
    assert "Why Why" not in reply.text and len(reply.text) < 1000
    assert reply.json()["detail"][0]["loc"] == ["body", "question"]


def test_an_unknown_doc_id_in_a_filter_is_a_404(client: TestClient) -> None:
    reply = client.get("/search", params={"q": QUESTION, "doc_id": "no-such-doc"})
    assert reply.status_code == 404 and "no-such-doc" in reply.json()["detail"]
    reply = client.post("/ask", json={"question": QUESTION, "doc_ids": ["no-such-doc"]})
    assert reply.status_code == 404


def test_a_document_without_prose_is_stored_with_a_warning(writable: TestClient) -> None:
    reply = writable.post("/documents", json={"doc_id": "menu", "text": "Home | News | Sport"})
    assert reply.status_code == 201
    assert reply.json()["passages"] == 0 and "can be searched" in reply.json()["warning"]
    ok = writable.post(
        "/documents", json={"doc_id": "prose", "text": "The ferry to the island resumed on Sunday."}
    )
    assert "warning" not in ok.json()


def test_batch_answers_each_question_as_ask_does(client: TestClient) -> None:
    questions = [QUESTION, "Who is the president of Tajikistan?", "What is the GDP of Afghanistan?"]
    reply = client.post("/ask/batch", json={"questions": questions, "top_k": 5})
    assert reply.status_code == 200
    results = reply.json()["results"]
    assert [r["question"] for r in results] == questions
    for question, result in zip(questions, results, strict=True):
        single = client.post("/ask", json={"question": question, "top_k": 5}).json()
        assert [a["text"] for a in result["answers"]] == [a["text"] for a in single["answers"]]
        for a, b in zip(result["answers"], single["answers"], strict=True):
            assert a["score"] == pytest.approx(b["score"], abs=0.02)  # batch padding: tiny float drift
    too_many = client.post("/ask/batch", json={"questions": ["Who?"] * 65})
    assert too_many.status_code == 422
    empty = client.post("/ask/batch", json={"questions": ["Who?", "   "]})
    assert empty.status_code == 400 and "empty" in empty.json()["detail"]


def test_documents_are_listed_a_page_at_a_time(client: TestClient) -> None:
    everything = client.get("/documents").json()
    assert everything["next"] is None and len(everything["documents"]) == 5
    seen, after = [], None
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        page = client.get("/documents", params=params).json()
        seen += [d["doc_id"] for d in page["documents"]]
        after = page["next"]
        if after is None:
            break
    assert seen == [d["doc_id"] for d in everything["documents"]]
    # Newest first: the one dated seed (2021-07-05), then the undated by doc_id.
    dated = [d["published"] for d in everything["documents"] if d["published"]]
    assert dated == sorted(dated, reverse=True) and everything["documents"][0]["published"]
    undated = [d["doc_id"] for d in everything["documents"] if not d["published"]]
    assert seen[-len(undated) :] == sorted(undated)
    by_id = client.get("/documents", params={"sort": "doc_id", "limit": 2}).json()
    assert [d["doc_id"] for d in by_id["documents"]] == sorted(seen)[:2] and by_id["next"] == sorted(seen)[1]
    assert client.get("/documents", params={"limit": 0}).status_code == 422
    assert client.get("/documents", params={"sort": "title"}).status_code == 422
    assert client.get("/documents", params={"after": "no-such-document"}).status_code == 404


def test_openapi_describes_operations_with_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    ask = spec["paths"]["/ask"]["post"]
    assert "citation" in ask["description"]
    assert spec["components"]["schemas"]["AskRequest"]["examples"][0]["question"]
    assert all(op.get("description") for path in spec["paths"].values() for op in path.values())


def test_a_filter_names_a_bounded_number_of_documents(client: TestClient) -> None:
    """250,001 doc_ids used to hit SQLite's variable limit (a 500); five 1 MB unknown ids
    were echoed back in a 5 MB 404."""
    many = client.post("/ask", json={"question": QUESTION, "doc_ids": [f"d{i}" for i in range(1001)]})
    assert many.status_code == 422
    huge = client.post("/ask", json={"question": QUESTION, "doc_ids": ["x" * 1_000_000] * 5})
    assert huge.status_code == 413 and len(huge.content) < 2_000  # a read's body is bounded first
    long_ids = client.post("/ask", json={"question": QUESTION, "doc_ids": ["x" * 100_000] * 5})
    assert long_ids.status_code == 422 and len(long_ids.content) < 2_000
    unknown = client.post("/ask", json={"question": QUESTION, "doc_ids": [f"nope-{i}" for i in range(900)]})
    assert unknown.status_code == 404 and "895 more" in unknown.json()["detail"]
    assert len(unknown.content) < 1_000


@pytest.mark.parametrize(
    "body",
    [
        '{"question": "How many troops?", "top_k": true}',
        '{"question": "How many troops?", "max_answers": "2"}',
        '{"question": "How many troops?", "metadata": {"score": NaN}}',
        '{"question": "How many troops?", "metadata": {"score": Infinity}}',
    ],
)
def test_loose_json_values_are_refused_not_reinterpreted(client: TestClient, body: str) -> None:
    reply = client.post("/ask", content=body, headers={"content-type": "application/json"})
    assert reply.status_code in (400, 422), reply.text


def test_metadata_with_nan_is_refused_and_a_bom_in_text_is_kept(writable: TestClient) -> None:
    body = '{"doc_id": "nan-doc", "text": "The ferry resumed on Sunday.", "metadata": {"x": NaN}}'
    refused = writable.post("/documents", content=body, headers={"content-type": "application/json"})
    assert refused.status_code == 400 and "NaN" in refused.json()["detail"]
    assert writable.get("/documents/nan-doc").status_code == 404
    text = "\ufeffThe harbour authority said the ferry to the island resumed service on Sunday."
    assert writable.post("/documents", json={"doc_id": "bom", "text": text}).status_code == 201
    stored = writable.get("/documents/bom").json()["text"]
    assert stored == text  # kept exactly as sent: offsets index what the client holds
    hit = writable.get("/search", params={"q": "When did the ferry resume?", "k": 1}).json()["passages"][0]
    assert hit["doc_id"] == "bom" and stored[hit["start"] : hit["end"]] == hit["text"]


def test_a_document_of_too_many_passages_is_refused_before_embedding(make_engine) -> None:
    client = TestClient(create_app(make_engine(max_passages_per_document=50)))
    text = "\n\n".join(
        f"Officials in district {i} said the ferry resumed its service on Monday." for i in range(60)
    )
    reply = client.post("/documents", json={"doc_id": "many", "text": text})
    assert reply.status_code == 413 and "60 passages; the limit is 50" in reply.json()["detail"]
    assert client.get("/documents/many").status_code == 404


def test_a_page_of_documents_is_bounded_in_bytes(make_engine) -> None:
    engine = make_engine()
    bulky = {"notes": "n" * 15_000}
    for i in range(80):
        engine.add(
            f"doc-{i:02d}", f"The ferry to island {i} resumed its service on Sunday morning.", metadata=bulky
        )
    client = TestClient(create_app(engine))
    first = client.get("/documents", params={"limit": 10_000})
    assert first.status_code == 200 and len(first.content) < 1_200_000
    seen, after = [], None
    while True:
        page = client.get(
            "/documents", params={"limit": 10_000, **({"after": after} if after else {})}
        ).json()
        seen += [d["doc_id"] for d in page["documents"]]
        after = page["next"]
        if after is None:
            break
    assert seen == [f"doc-{i:02d}" for i in range(80)] and len(first.json()["documents"]) < 80


def test_seed_articles_show_their_headlines_outlets_and_dates(client: TestClient) -> None:
    docs = {d["doc_id"]: d for d in client.get("/documents").json()["documents"]}
    afp = docs["002_c893cae8a75fbf29"]
    assert (afp["title"], afp["published"], afp["source"]) == (
        "Afghan government mulls offensive after losing key battles to Taliban",
        "2021-07-05",
        "AFP",
    )
    assert sorted(afp["detected"]) == ["published", "source", "title"] and not afp["title_from_text"]
    rfe = docs["001_b6733ea8aba2a067"]
    assert rfe["source"] == "Radio Free Europe/Radio Liberty" and rfe["published"] is None
    assert docs["000_a764001855818956"]["title_from_text"] and docs["000_a764001855818956"]["source"] is None
    reply = client.post("/ask", json={"question": QUESTION}).json()
    cited = [c for a in reply["answers"] for c in a["citations"]] + reply["passages"]
    assert cited
    for c in cited:  # each source named as the listing names its article
        listed = docs[c["doc_id"]]
        assert (c["title"], c["published"], c["source"]) == (
            listed["title"],
            listed["published"],
            listed["source"],
        )
    for answer in reply["answers"]:
        assert answer["dates"] == sorted({c["published"] for c in answer["citations"] if c["published"]})


def test_a_date_filter_on_search_and_ask(client: TestClient) -> None:
    only = client.get("/search", params={"q": QUESTION, "published_after": "2021-07-05"}).json()
    assert {p["doc_id"] for p in only["passages"]} == {"002_c893cae8a75fbf29"}
    none = client.post("/ask", json={"question": QUESTION, "published_before": "2021-07-01"}).json()
    assert none["answers"] == [] and none["passages"] == []
    bad = client.get("/search", params={"q": QUESTION, "published_after": "next week"})
    assert bad.status_code == 422 and "published_after" in str(bad.json()["detail"])
    impossible = client.post("/ask", json={"question": QUESTION, "published_after": "2021-02-30"})
    assert impossible.status_code == 422
    backwards = client.post(
        "/ask/batch",
        json={"questions": [QUESTION], "published_after": "2021-07-06", "published_before": "2021-07-01"},
    )
    assert backwards.status_code == 200 and backwards.json()["results"][0]["passages"] == []  # an empty range


def test_import_takes_a_feed_html_and_json_lines(writable: TestClient) -> None:
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Asia Wire</title>'
        "<item><title>Khorog reopens</title><link>https://wire.example/k</link><guid>k1</guid>"
        "<pubDate>Tue, 06 Jul 2021 08:00:00 GMT</pubDate><description>The border crossing at Khorog "
        "reopened to trucks on Tuesday, officials in the province said.</description></item></channel></rss>"
    )
    written = writable.post(
        "/documents/import",
        params={"name": "wire.rss"},
        content=feed,
        headers={"Content-Type": "application/rss+xml"},
    )
    assert written.status_code == 201, written.text
    (doc,) = written.json()["documents"]
    assert doc["status"] == "added"
    again = writable.post("/documents/import", params={"name": "wire.rss"}, content=feed)
    assert again.status_code == 200 and again.json()["documents"] == [{**doc, "status": "unchanged"}]
    stored = writable.get(f"/documents/{doc['doc_id']}").json()
    assert (stored["title"], stored["published"], stored["source"], stored["url"]) == (
        "Khorog reopens",
        "2021-07-06T08:00:00+00:00",
        "Asia Wire",
        "https://wire.example/k",
    )
    html = (
        "<html><head><title>Talks</title></head><body><article><h1>Talks in Dushanbe</h1><p>Officials of "
        "both countries met in Dushanbe on Thursday to discuss the refugees at the border.</p>"
        "</article></body></html>"
    )
    one = writable.post(
        "/documents", json={"doc_id": "talks", "text": html, "format": "html", "source": "Courier"}
    )
    assert one.status_code == 201, one.text
    talks = writable.get("/documents/talks").json()
    assert "<p>" not in talks["text"] and talks["source"] == "Courier" and "source" not in talks["detected"]
    assert talks["fields_from"] == {"title": "page", "source": "given"}
    bad = writable.post(
        "/documents/import", params={"name": "x.jsonl"}, content=b'{"doc_id": "y", "text": 5}'
    )
    assert bad.status_code == 400 and "line 1" in bad.json()["detail"]
    unknown = writable.post("/documents/import", params={"name": "x.pdf"}, content=b"%PDF")
    assert unknown.status_code == 400 and ".jsonl" in unknown.json()["detail"]


def test_front_matter_aliases_and_deep_nesting_are_a_quick_400(writable: TestClient) -> None:
    """4 KB of nested YAML aliases once cost 26 s of CPU and 800 MB before any check."""
    import time

    levels = ["a: &a [" + ",".join(["xxxxxxxx"] * 350) + "]"]
    levels += [f"{n}: &{n} [" + ",".join([f"*{p}"] * 350) + "]" for p, n in (("a", "b"), ("b", "c"))]
    bomb = "---\n" + "\n".join(levels) + "\n---\nThe ferry to the island resumed on Sunday.\n"
    deep = "---\nk: " + "[" * 2000 + "]" * 2000 + "\n---\nThe ferry to the island resumed on Sunday.\n"
    for name, body in (("bomb.md", bomb), ("deep.md", deep)):
        t0 = time.perf_counter()
        reply = writable.post(f"/documents/import?name={name}", content=body.encode())
        assert reply.status_code == 400 and "front matter" in reply.json()["detail"], reply.text
        assert time.perf_counter() - t0 < 2.0
        assert writable.get(f"/documents/{name[:-3]}").status_code == 404


def test_hostile_page_fields_and_feed_dates_are_never_a_500(writable: TestClient) -> None:
    """A page's own fields are hints: a 600-character <title> is cut, an over-long site name
    left out; a feed date that does not exist is no date; JSON nested 100k deep is a 400."""
    body = "<p>The ferry to the island resumed on Sunday after the storm, the harbour authority said.</p>"
    title_page = (
        f"<html><head><title>{'Ferry news ' * 60}</title></head><body><article>{body}</article></body></html>"
    )
    site_page = (
        f"<html><head><title>Ferry back</title><meta property='og:site_name' content='{'S' * 300}'>"
        f"</head><body><article>{body}</article></body></html>"
    )
    feed = (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>W</title><item><title>Ferry</title>"
        "<link>https://w.example/1</link><pubDate>9999-12-31T25:00:00Z</pubDate><description>The ferry to "
        "the island resumed on Sunday after the storm.</description></item></channel></rss>"
    )
    for name, text in (("long-title.html", title_page), ("site.html", site_page), ("wire.rss", feed)):
        reply = writable.post(f"/documents/import?name={name}", content=text.encode())
        assert reply.status_code == 201, (name, reply.text)
        doc = writable.get(f"/documents/{reply.json()['documents'][0]['doc_id']}").json()
        assert len(doc["title"]) <= 500 and (doc.get("source") or "") != "S" * 300
    deep = (
        '{"doc_id": "x", "text": "The ferry resumed.", "metadata": {"a": '
        + "[" * 100_000
        + "]" * 100_000
        + "}}"
    )
    reply = writable.post("/documents/import?name=deep.jsonl", content=deep.encode())
    assert reply.status_code == 400 and "nested too deeply" in reply.json()["detail"]


def test_json_lines_keep_unicode_line_separators_inside_strings(writable: TestClient) -> None:
    import json

    text = "The ferry to the island resumed on Sunday.\u2028It had stopped\u2029for the storm\u0085in May."
    line = json.dumps({"doc_id": "sep", "text": text}, ensure_ascii=False)
    reply = writable.post("/documents/import?name=sep.jsonl", content=(line + "\r\n").encode())
    assert reply.status_code == 201, reply.text
    assert writable.get("/documents/sep").json()["text"] == text


def test_one_bad_entry_costs_that_entry_only_unless_strict(writable: TestClient) -> None:
    item = "<item><title>{t}</title><guid>{g}</guid><description>{d}</description></item>"
    entries = [
        item.format(
            t="Khorog reopens", g="k1", d="The border crossing at Khorog reopened to trucks on Tuesday."
        ),
        item.format(t="Photo", g="p1", d="<img src='https://wire.example/p.jpg'/>"),  # an image only
        item.format(t="Khorog again", g="k1", d="The same guid as the first entry, a second time."),
        item.format(t="Talks", g="t1", d="Officials met in Dushanbe on Thursday to discuss the refugees."),
    ]
    feed = (
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>W</title>{''.join(entries)}</channel></rss>"
    )
    strict = writable.post("/documents/import?name=wire.rss&strict=true", content=feed.encode())
    assert strict.status_code == 400 and "entry 2" in strict.json()["detail"]
    listed = writable.get("/documents").json()["documents"]
    assert not any(d["doc_id"].startswith("wire-") for d in listed)  # nothing of it was written
    reply = writable.post("/documents/import?name=wire.rss", content=feed.encode())
    assert reply.status_code == 201, reply.text
    assert len(reply.json()["documents"]) == 2
    assert [r["entry"] for r in reply.json()["refused"]] == ["entry 2", "entry 3"]
    assert "no text" in reply.json()["refused"][0]["reason"]
    lines = b'{"doc_id": "a", "text": "The ferry resumed on Sunday."}\n{"doc_id": "b"}\n'
    reply = writable.post("/documents/import?name=desk.jsonl", content=lines)
    assert reply.status_code == 201 and [d["doc_id"] for d in reply.json()["documents"]] == ["a"]
    assert reply.json()["refused"] == [{"entry": "line 2", "reason": "'text' must be non-empty text"}]
