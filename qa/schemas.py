"""Pydantic models at the edges, split by direction: requests in, responses out."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, computed_field
from pydantic.config import JsonDict

from index.text.article import published_day

# What a client shows as an article's date: the day the date filters put it in.
DAY = "the day date filters put it in (published_after/before): its date, or the UTC day of its instant"

MAX_QUESTION_CHARS = 2000
MAX_K = 50
MAX_BATCH = 64  # questions in one POST /ask/batch
MAX_DOC_IDS = 1000  # documents named in one filter
MAX_CURSOR_CHARS = 1024  # an ``after`` of GET /documents: a doc_id, or by doc_id any text to list past
# Rules the server enforces with a clear message, stated in the OpenAPI schema for clients.
# "Not blank" as Python's str.strip() sees it: JSON Schema's \s lacks U+001C-U+001F and
# U+0085, which Python counts as white space.
_VISIBLE = r"[^\s\u001c-\u001f\u0085]"
NOT_BLANK: JsonDict = {"pattern": _VISIBLE}
# Some text, and no NUL (binary) bytes.
TEXT_RULE: JsonDict = {"pattern": rf"^[^\u0000]*{_VISIBLE}[^\u0000]*$"}


DocId = Annotated[str, Field(min_length=1, max_length=128)]


def _a_json_number(value: Any) -> Any:
    """Lax integer parsing would take `true` as 1 and "5" as 5; a count is a JSON number
    (a whole one: 5.0 is 5, 5.5 is refused)."""
    if isinstance(value, bool | str):
        raise ValueError("must be a JSON number")
    return value


Count = Annotated[int, BeforeValidator(_a_json_number)]
DocumentFormat = Literal["text", "html"]
URL_PATTERN = r"^https?://[^\s<>\"]+$"  # what index.text.article.check_url takes
# A metadata filter compares scalars (README "Metadata filters").
FilterValue = str | int | float | bool | None


def _an_iso_date(value: Any) -> Any:
    """Lax parsing would take a number as a Unix time; a date here is ISO 8601 text."""
    if (isinstance(value, str) and not value.strip().isdigit()) or isinstance(value, date):
        return value
    raise ValueError("must be an ISO 8601 date (2021-07-05) or date-time (2021-07-05T09:30:00Z)")


# A publication date as the API takes it: ISO 8601, a date or a date-time (no zone: UTC).
DateText = Annotated[
    date | datetime,
    BeforeValidator(_an_iso_date),
    Field(
        description="ISO 8601: a date (2021-07-05) or a date-time (2021-07-05T09:30:00Z)",
        examples=["2021-07-05"],
    ),
]


class SourceFields(BaseModel):
    """The article a passage or citation comes from, as a reader of news names it."""

    title: str | None = Field(default=None, description="the article's headline (or its first line)")
    published: str | None = Field(default=None, description="publication date, ISO 8601")
    source: str | None = Field(default=None, description="the outlet that published it")

    @computed_field(description=DAY)  # type: ignore[prop-decorator]
    @property
    def published_day(self) -> str | None:
        return published_day(self.published) if self.published else None


class Passage(SourceFields):
    doc_id: str
    paragraph: int = Field(description="0-based index of the paragraph in its document")
    start: int = Field(description="character offset of the passage in the document text")
    end: int
    text: str
    score: float = Field(ge=0.0, le=1.0)


class SearchResponse(BaseModel):
    query: str
    passages: list[Passage]


class Copy(SourceFields):
    """Another article that states an answer in the same words as a citation: a syndicated
    or copied text, the same source under another outlet's name."""

    doc_id: str
    paragraph: int
    start: int = Field(description="character offset of the answer in that document's text")
    end: int


class Citation(SourceFields):
    doc_id: str
    paragraph: int
    start: int = Field(description="character offset of the answer in the document text")
    end: int
    text: str
    context: str
    context_start: int = Field(description="offset of the answer inside `context`")
    context_end: int
    score: float = Field(ge=0.0, le=1.0, description="this source's share of the answer's support")
    copies: list[Copy] = Field(
        default_factory=list,
        description="other articles that say it in the same words (wire copies): also published by "
        "them, but one source, not independent support",
    )


class Answer(BaseModel):
    text: str
    score: float = Field(ge=0.0, le=1.0, description="confidence that this answer is right")
    citations: list[Citation]
    dates: list[str] = Field(
        default_factory=list, description="publication dates of the answer's sources, oldest first"
    )


class RequestFilters(BaseModel):
    """What a question keeps to: documents, metadata, publication dates."""

    doc_ids: list[DocId] | None = Field(
        default=None,
        max_length=MAX_DOC_IDS,
        description=f"only search these documents (at most {MAX_DOC_IDS})",
    )
    metadata: dict[str, FilterValue] | None = Field(
        default=None,
        description="only documents whose metadata has each key with this value (or a list holding it)",
    )
    published_after: DateText | None = Field(
        default=None, description="only articles published on or after this date (ISO 8601)"
    )
    published_before: DateText | None = Field(
        default=None, description="only articles published on or before this date (a date: all of that day)"
    )


class SearchRequest(RequestFilters):
    """``GET /search`` as JSON: metadata values of any JSON type (``meta=k=v``: strings)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"query": "Tajik reservists"}]})

    query: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, json_schema_extra=NOT_BLANK)
    k: Count = Field(default=5, ge=1, le=MAX_K, description="passages to return")


class ReadingOptions(RequestFilters):
    """How a question is read: the same for one question and a batch."""

    top_k: Count = Field(default=5, ge=1, le=MAX_K, description="passages to read per question")
    max_answers: Count = Field(default=3, ge=1, le=20)


class AskRequest(ReadingOptions):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"question": "How many troops did Tajikistan mobilize?", "top_k": 5}]
        },
    )

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, json_schema_extra=NOT_BLANK)


class AskResponse(BaseModel):
    question: str
    answers: list[Answer]
    passages: list[Passage]
    dates_differ: bool = Field(
        default=False, description="the candidate answers come from sources of different dates"
    )
    note: str | None = Field(default=None, description="what a reader should know beside the answers")


Question = Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS, json_schema_extra=NOT_BLANK)]


class AskBatchRequest(ReadingOptions):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "questions": [
                        "How many troops did Tajikistan mobilize?",
                        "Who is the president of Tajikistan?",
                    ]
                }
            ]
        },
    )

    questions: list[Question] = Field(
        min_length=1, max_length=MAX_BATCH, description=f"1 to {MAX_BATCH} questions"
    )


class AskBatchResponse(BaseModel):
    results: list[AskResponse] = Field(description="one reply per question, in the order asked")


class DocumentIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "doc_id": "note-1",
                    "text": "Officials said the border crossing at Khorog reopened to trucks on Tuesday.",
                    "metadata": {"desk": "asia"},
                }
            ]
        },
    )

    doc_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    text: str = Field(min_length=1, json_schema_extra=TEXT_RULE)
    format: DocumentFormat = Field(
        default="text", description="`html`: `text` is an HTML page; its main text is stored"
    )
    title: str | None = Field(default=None, max_length=500, description="the headline")
    published: DateText | None = None
    source: str | None = Field(default=None, max_length=200, description="the outlet")
    url: str | None = Field(default=None, max_length=2048, pattern=URL_PATTERN, description="http(s) address")
    metadata: dict[str, Any] = Field(default_factory=dict)


class DocumentReplace(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, json_schema_extra=TEXT_RULE)
    format: DocumentFormat = "text"
    title: str | None = Field(default=None, max_length=500)
    published: DateText | None = None
    source: str | None = Field(default=None, max_length=200)
    url: str | None = Field(default=None, max_length=2048, pattern=URL_PATTERN, description="http(s) address")
    metadata: dict[str, Any] = Field(default_factory=dict)


class Message(BaseModel):
    detail: str
    error: str | None = Field(
        default=None,
        description="the kind of error (InvalidQuestion, DocumentNotFound...), where one applies",
    )


class ArticleOut(BaseModel):
    doc_id: str
    title: str
    published: str | None = Field(default=None, description="publication date, ISO 8601")

    @computed_field(description=DAY)  # type: ignore[prop-decorator]
    @property
    def published_day(self) -> str | None:
        return published_day(self.published) if self.published else None

    source: str | None = Field(default=None, description="the outlet")
    url: str | None = None
    detected: list[str] = Field(
        default_factory=list,
        description="fields not given: read from the page's metadata or found in the text",
    )
    fields_from: dict[str, Literal["given", "page", "text", "first line"]] = Field(
        default_factory=dict,
        description="where each article field came from: given (by whoever added it), page (the HTML "
        "page's own metadata: JSON-LD, Open Graph), text (found in the article's text), first line "
        "(no headline given or found: the title is the text's first line)",
    )
    title_from_text: bool = Field(
        default=False, description="no headline was given or found: the title is the text's first line"
    )
    metadata: dict[str, Any]


class DocumentOut(ArticleOut):
    text: str
    copies: list[str] = Field(
        default_factory=list,
        description="documents that carry most of this one's paragraphs in the same words (wire copies)",
    )


class DocumentSummary(ArticleOut):
    passages: int


class DocumentList(BaseModel):
    documents: list[DocumentSummary]
    next: str | None = Field(
        default=None, description="pass as `after` for the next page; null on the last page"
    )


WriteStatus = Literal["added", "replaced", "unchanged"]
ADDED: WriteStatus = "added"
REPLACED: WriteStatus = "replaced"
UNCHANGED: WriteStatus = "unchanged"


class DocumentWritten(BaseModel):
    doc_id: str
    passages: int
    status: WriteStatus | None = Field(
        default=None,
        description="of an import: added (new), replaced (a changed version) or unchanged (the "
        "stored version is this one: nothing written, nothing embedded)",
    )

    @computed_field(description="set when the document cannot be searched")  # type: ignore[prop-decorator]
    @property
    def warning(self) -> str | None:
        if self.passages:
            return None
        return (
            "stored, but no paragraph of it reads as prose (8 words or more, ending like a sentence), "
            "so nothing of it can be searched or cited"
        )


class EntryRefused(BaseModel):
    entry: str = Field(description='which part of the file: "entry 3" of a feed, "line 12" of JSON Lines')
    reason: str


class DocumentsImported(BaseModel):
    documents: list[DocumentWritten] = Field(description="every document the file held, written")
    refused: list[EntryRefused] = Field(
        default_factory=list, description="entries that could not be read and were left out (strict=false)"
    )


class Precision(BaseModel):
    """How the models compute: chosen once per machine and data directory (``auto``) or set."""

    reader: str | None = Field(default=None, description="fp32, bf16 or int8; null without a reader")
    embedding: str
    bf16_speedup: float | None = Field(
        default=None, description="fp32 time / bf16 time measured on this machine (auto only)"
    )


class Health(BaseModel):
    status: str  # ok, or preparing (the store cannot answer yet: see ``preparing``)
    ready: bool
    preparing: str | None = Field(default=None, description="why questions are refused for now, and progress")
    documents: int
    passages: int
    reader: bool
    precision: Precision | None = None


class FeedIn(BaseModel):
    """A feed to follow: read now, then every ``interval_s`` seconds."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=1,
        max_length=2048,
        pattern=r"^https?://[^\s/?#]+",
        description="an http(s) RSS, Atom or RDF feed URL on a public address",
    )
    interval_s: int | None = Field(
        default=None, ge=60, le=7 * 86_400, description="seconds between reads (default 600)"
    )


class FeedOut(BaseModel):
    feed_id: str
    url: str
    interval_s: int
    added: str = Field(description="when it was followed (ISO 8601, UTC)")
    last_fetched: str | None = Field(default=None, description="when it was last read")
    last_new_entry: str | None = Field(default=None, description="when a read last added an entry")
    entries: int = Field(description="entries in the feed at its last successful read")
    added_entries: int = Field(description="entries added from it since it was followed")
    failures: int = Field(description="reads failed in a row (each doubles the wait, up to 6 h)")
    last_error: str | None = None
    next_read: str = Field(description="when it is read next")


class FeedList(BaseModel):
    feeds: list[FeedOut]


class JobOut(BaseModel):
    """A background import (``POST /documents/import?wait=false``) and how far it is."""

    job_id: str
    name: str = Field(description="the file's name")
    state: Literal["queued", "running", "done", "failed"]
    created: str
    finished: str | None = None
    documents_done: int = Field(description="documents written (or found unchanged) so far")
    documents_total: int | None = Field(default=None, description="documents in the file, once it is read")
    error: str | None = Field(
        default=None, description="why it failed (its documents are each whole or absent)"
    )
    documents: list[DocumentWritten] = Field(
        default_factory=list, description="each document's status, when done"
    )
    refused: list[EntryRefused] = Field(default_factory=list)


class JobList(BaseModel):
    jobs: list[JobOut]
