"""News as it arrives: plain text (with optional YAML front matter), HTML pages, RSS/Atom feed
files and JSON Lines exports, each read into documents with their article fields.

What is stored and searched is the text a format yields (an HTML page's main text, a feed
entry's content as text, a front-matter file's body), so every offset in a citation indexes
the stored text exactly. A file is read whole or refused with one ``FormatError`` that names
the file (and the line or entry); nothing of a refused file is kept, nothing else is lost.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime
from pathlib import PurePath
from typing import Any

from index.text.article import (
    MAX_SOURCE_CHARS,
    MAX_TITLE_CHARS,
    Article,
    ArticleError,
    check_fields,
)
from index.text.feeds import fragment_text, read_feed, read_jsonl
from index.text.incoming import FormatError, Incoming, finish, json_object, with_headline
from index.text.page_meta import clean_headline, clean_text, page_fields
from index.text.paragraphs import clipped
from index.text.raw import decode_text, valid_doc_id

__all__ = ["FormatError", "Incoming", "finish", "read_document", "with_headline"]

FORMATS: dict[str, tuple[str, ...]] = {
    "text": (".txt", ".text", ".md"),
    "html": (".html", ".htm"),
    "feed": (".rss", ".atom", ".rdf", ".xml"),
    "jsonl": (".jsonl", ".ndjson"),
}
# The formats one file of which can hold several documents.
MULTI = frozenset({"feed", "jsonl"})
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)


def format_of(name: str) -> str | None:
    """The format a file name says (by its extension), or None for no document format."""
    suffix = PurePath(name).suffix.lower()
    return next((fmt for fmt, suffixes in FORMATS.items() if suffix in suffixes), None)


# Leading bytes of common binary files someone might hand us by mistake: what each one is.
_MAGIC = (
    (b"PK\x03\x04", "a ZIP archive (.docx, .xlsx, .epub...)"),
    (b"%PDF", "a PDF"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\xd0\xcf\x11\xe0", "an old Office document (.doc, .xls)"),
    (b"{\\rtf", "an RTF document"),
)


def binary_kind(raw: bytes) -> str | None:
    """What a file of no document format is when it is binary (a ZIP, a PDF, an image...),
    or None when it may be text."""
    for magic, what in _MAGIC:
        if raw.startswith(magic):
            return what
    return "a binary file" if b"\x00" in raw[:8192] else None


def not_a_format(name: str, what: str) -> str:
    """The one line that refuses a file of a format we do not read."""
    known = " ".join(s for suffixes in FORMATS.values() for s in suffixes)
    return f"{name}: {what}, not a format we read ({known}); convert it to text or HTML first"


def read_document(
    name: str,
    raw: bytes,
    fmt: str | None = None,
    doc_id: str | None = None,
    sidecar: bytes | None = None,
    refused: list[tuple[str, str]] | None = None,
) -> list[Incoming]:
    """The documents of one file (or request body) named ``name`` in format ``fmt`` (by
    default the one its extension says). ``doc_id`` (default: the name's stem) names the
    document of a single-document format, and prefixes the ids of a feed's entries.
    ``sidecar``: the JSON of the file's article fields and metadata (``name.json``). A bad
    entry of a feed or JSON Lines file stops the read (nothing of the file is taken), or,
    with a ``refused`` list, costs that entry only: it is recorded there as (entry, why)."""
    fmt = fmt or format_of(name)
    if fmt not in FORMATS:
        known = ", ".join(s for suffixes in FORMATS.values() for s in suffixes)
        raise FormatError(f"{name}: not a document format we read (file names end in {known})")
    stem = doc_id or PurePath(name).stem
    if fmt in ("text", "html") and not valid_doc_id(stem):
        raise FormatError(
            f"{name}: {stem!r} is not a valid doc_id (1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit; e.g. 2021-07-05_tajik-border.txt)"
        )
    given, metadata = _sidecar(name, sidecar) if sidecar is not None else (Article(), {})
    if fmt == "jsonl":
        return read_jsonl(name, raw, refused)
    text = decode_text(raw, name)
    if fmt == "feed":
        return read_feed(name, stem, text, refused)
    if fmt == "html":
        body, found = _html(name, text)
        return [_with(finish(stem, body, given, metadata, detect=False), found)]
    body, front, front_meta = _front_matter(name, text)
    return [finish(stem, body, given.merged(front), {**front_meta, **metadata})]


def _with(doc: Incoming, found: Article) -> Incoming:
    """Fields a library extracted from markup, where none was given: marked detected."""
    return Incoming(doc.doc_id, doc.text, doc.article.merged(found), doc.metadata, doc.sha256)


def _fields(name: str, values: dict[str, Any], where: str) -> tuple[Article, dict[str, Any]]:
    """Article fields and free metadata from a mapping (front matter, a sidecar)."""
    article = {}
    for key in ("title", "published", "source", "url"):
        value = values.pop(key, None)
        if value is not None:
            if isinstance(value, datetime):
                value = value.isoformat()
            if not isinstance(value, str):
                value = str(value)  # YAML reads 2021-07-05 as a date
            article[key] = value
    meta = values.pop("metadata", None)
    if meta is not None and not isinstance(meta, dict):
        raise FormatError(f"{name}: {where} 'metadata' must be an object")
    metadata = {**values, **(meta or {})}
    try:
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise FormatError(f"{name}: {where} holds a value JSON cannot carry ({exc})") from None
    return (
        Article(article.get("title"), article.get("published"), article.get("source"), article.get("url")),
        metadata,
    )


def _sidecar(name: str, raw: bytes) -> tuple[Article, dict[str, Any]]:
    text = decode_text(raw, f"{name} (sidecar .json)")
    values = json_object(text, f"{name}: its sidecar .json", "an object of fields")
    return _fields(name, values, "the sidecar .json")


MAX_FRONT_MATTER_DEPTH = 16


def _load_front_matter(text: str) -> Any:
    """YAML of a few fields: no aliases (4 KB of nested aliases expand to gigabytes before
    any size check could see them) and no nesting deeper than ``MAX_FRONT_MATTER_DEPTH``."""
    import yaml

    class Loader(yaml.SafeLoader):  # type: ignore[misc]
        depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.events.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(
                    None, None, "aliases (*name) are not taken in front matter", event.start_mark
                )
            self.depth += 1
            if self.depth > MAX_FRONT_MATTER_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested deeper than {MAX_FRONT_MATTER_DEPTH} levels",
                    self.peek_event().start_mark,
                )
            try:
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    return yaml.load(text, Loader=Loader)  # a SafeLoader: plain data only


def _front_matter(name: str, text: str) -> tuple[str, Article, dict[str, Any]]:
    """YAML front matter (between ``---`` lines at the very top) and the body after it."""
    m = _FRONT_MATTER.match(text)
    if not m:
        return text, Article(), {}
    import yaml

    try:
        values = _load_front_matter(m.group(1)) or {}
    except yaml.YAMLError as exc:
        raise FormatError(f"{name}: its front matter is not YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(values, dict):
        raise FormatError(f"{name}: its front matter must be 'key: value' lines")
    article, metadata = _fields(name, {str(k): v for k, v in values.items()}, "the front matter")
    return text[m.end() :], article, metadata


def _html(name: str, html: str) -> tuple[str, Article]:
    """An HTML page's main text (paragraphs apart by a blank line) and its headline, date,
    site name and address, as trafilatura and htmldate find them."""
    import trafilatura

    found = trafilatura.bare_extraction(
        html,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    text = getattr(found, "text", None) or ""
    if not text.strip():  # not a news page trafilatura knows (a fragment, a bare list): all its text
        text = fragment_text(html)
    if not text.strip():
        raise FormatError(f"{name}: no text found in this HTML page")
    body = "\n\n".join(line.strip() for line in text.splitlines() if line.strip())
    fields = {}
    for key, attr in (("title", "title"), ("published", "date"), ("source", "sitename"), ("url", "url")):
        value = getattr(found, attr, None)
        if isinstance(value, str) and value.strip():
            fields[key] = " ".join(value.split())
    # What the page declares comes first: its headline (JSON-LD, Open Graph) over its <title>,
    # its publication time over a date found on the page (which may be when it was modified).
    declared = page_fields(html)
    headline = next(iter(declared.headlines), None) or fields.get("title")
    if headline:
        sites = (*declared.sites, *([fields["source"]] if "source" in fields else []))
        fields["title"] = clean_headline(headline, sites) or clean_text(headline)
    if declared.published:
        fields["published"] = declared.published
    # A page's own fields are hints, not requests: one that is too long is cut or left out.
    if len(fields.get("title", "")) > MAX_TITLE_CHARS:
        fields["title"] = clipped(fields["title"], MAX_TITLE_CHARS)
    if len(fields.get("source", "")) > MAX_SOURCE_CHARS:
        del fields["source"]
    try:
        article = check_fields(
            Article(fields.get("title"), fields.get("published"), fields.get("source"), fields.get("url"))
        )
    except ArticleError:  # a page's own metadata that is not usable: left out, not fatal
        article = check_fields(Article(title=fields.get("title"), source=fields.get("source")))
    on_page = frozenset(k for k in fields if getattr(article, k))
    return with_headline(body, article.title), replace(article, detected=on_page, from_page=on_page)
