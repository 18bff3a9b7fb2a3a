"""News as it arrives: plain text (with optional YAML front matter), HTML pages, RSS/Atom feed
files and JSON Lines exports, each read into documents with their article fields.

What is stored and searched is the text a format yields (an HTML page's main text, a feed
entry's content as text, a front-matter file's body), so every offset in a citation indexes
the stored text exactly. A file is read whole or refused with one ``FormatError`` that names
the file (and the line or entry); nothing of a refused file is kept, nothing else is lost.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any

from index.text.article import (
    MAX_SOURCE_CHARS,
    MAX_TITLE_CHARS,
    Article,
    ArticleError,
    check_fields,
    detect_article,
)
from index.text.page_meta import clean_headline, clean_text, page_fields
from index.text.paragraphs import clipped
from index.text.raw import CorpusError, decode_text, text_sha256, valid_doc_id

FORMATS: dict[str, tuple[str, ...]] = {
    "text": (".txt", ".text", ".md"),
    "html": (".html", ".htm"),
    "feed": (".rss", ".atom", ".rdf", ".xml"),
    "jsonl": (".jsonl", ".ndjson"),
}
# The formats one file of which can hold several documents.
MULTI = frozenset({"feed", "jsonl"})
JSONL_FIELDS = ("doc_id", "text", "title", "published", "source", "url", "metadata")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_BLOCKS = frozenset(("p", "div", "br", "li", "ul", "ol", "blockquote", "pre", "table", "tr", "figure"))
_BLOCKS |= {"h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "header", "footer"}


class FormatError(CorpusError):
    """A file (or one entry of it) that cannot be read as the format it claims."""


@dataclass(frozen=True)
class Incoming:
    """One document read from a file or a request, before it is split and embedded."""

    doc_id: str
    text: str
    article: Article = field(default_factory=Article)
    metadata: dict[str, Any] = field(default_factory=dict)
    # A fingerprint of everything the document was made from (text, fields, metadata): a
    # corpus sync re-indexes a document when it changes. Plain text alone: its text's hash.
    sha256: str = ""


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


def fingerprint(text: str, article: Article, metadata: dict[str, Any]) -> str:
    given = {n: getattr(article, n) for n in ("title", "published", "source", "url")}
    if not any(given.values()) and not metadata:
        return text_sha256(text)  # what earlier versions stored for plain text: no re-index
    extra = json.dumps([given, metadata], sort_keys=True, ensure_ascii=False)
    return text_sha256(f"{text}\0{extra}")


def finish(doc_id: str, text: str, given: Article, metadata: dict[str, Any], detect: bool = True) -> Incoming:
    """The document with its explicit fields checked and, where ``detect``, the fields the
    text states filled in (marked detected)."""
    try:
        article = check_fields(given)
    except ArticleError as exc:
        raise FormatError(f"{doc_id}: {exc}") from None
    sha = fingerprint(text, article, metadata)
    if detect:
        article = article.merged(detect_article(text))
    return Incoming(doc_id, text, article, metadata, sha)


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
        return _jsonl(name, raw, refused)
    text = decode_text(raw, name)
    if fmt == "feed":
        return _feed(name, stem, text, refused)
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
    values = _json_object(text, f"{name}: its sidecar .json", "an object of fields")
    return _fields(name, values, "the sidecar .json")


def _json_object(text: str, where: str, expected: str) -> dict[str, Any]:
    """``text`` as a JSON object, or a ``FormatError`` that says where and why."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        at = f", line {exc.lineno}" if "\n" in text.strip() else ""
        raise FormatError(f"{where}: not JSON ({exc.msg}{at})") from None
    except RecursionError:
        raise FormatError(f"{where}: nested too deeply to be read") from None
    if not isinstance(value, dict):
        raise FormatError(f"{where}: must be {expected}")
    return value


MAX_FRONT_MATTER_DEPTH = 16


def _load_front_matter(text: str) -> Any:
    """YAML of a few fields: no aliases (4 KB of nested aliases expand to gigabytes before
    any size check could see them) and no nesting deeper than ``MAX_FRONT_MATTER_DEPTH``."""
    import yaml

    class Loader(yaml.SafeLoader):
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


def with_headline(body: str, title: str | None) -> str:
    """The stored text of a page or feed entry: its headline, a blank line, its body (so the
    headline is read and cited like any paragraph); the body alone when it starts with it."""
    if not title or " ".join(body[: len(title) + 40].split()).startswith(" ".join(title.split())):
        return body
    return f"{title}\n\n{body}"


def fragment_text(markup: str) -> str:
    """Text of an HTML fragment (a feed entry's content): blocks apart by a blank line."""
    if "<" not in markup:
        return markup.strip()
    import lxml.html

    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except Exception:  # lxml raises several kinds on broken markup
        return re.sub(r"<[^>]+>", " ", markup).strip()
    for bad in root.xpath("//script|//style"):
        bad.drop_tree()
    parts: list[str] = []

    def walk(node: Any) -> None:
        tag = node.tag if isinstance(node.tag, str) else ""
        if tag in _BLOCKS:
            parts.append("\n\n")
        if node.text:
            parts.append(node.text)
        for child in node:
            walk(child)
            if child.tail:
                parts.append(child.tail)
        if tag in _BLOCKS:
            parts.append("\n\n")

    walk(root)
    blocks = re.split(r"\n\s*\n", "".join(parts))
    return "\n\n".join(" ".join(b.split()) for b in blocks if b.strip())


def _entry_date(entry: Any) -> str | None:
    """A feed entry's date as ISO text; None when it has none or none that exists (a feed
    may say ``9999-12-31T25:00:00Z``)."""
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    try:
        return datetime(*stamp[:6]).replace(tzinfo=UTC).isoformat() if stamp else None
    except (ValueError, OverflowError, TypeError):
        return None


def _feed(name: str, stem: str, text: str, refused: list[tuple[str, str]] | None = None) -> list[Incoming]:
    """One document per entry of an RSS or Atom feed, with its title, date, link and the
    feed's title as the outlet. An entry's id is ``<stem>-<hash of its guid or link>`` (of
    its title and text when it has neither). A bad entry stops the read, or, with a
    ``refused`` list, is left out and recorded there ("entry N", why)."""
    import feedparser

    parsed = feedparser.parse(text)
    if not parsed.entries:
        reason = getattr(parsed, "bozo_exception", None)
        why = f" ({str(reason).splitlines()[0]})" if reason else ""
        raise FormatError(f"{name}: not an RSS or Atom feed with entries{why}")
    outlet = (parsed.feed.get("title") or "").strip() or None
    docs: list[Incoming] = []
    seen: set[str] = set()
    for n, entry in enumerate(parsed.entries, start=1):
        try:
            docs.append(_feed_entry(name, stem, n, entry, outlet, seen))
        except FormatError as exc:
            if refused is None:
                raise
            refused.append((f"entry {n}", str(exc).removeprefix(f"{name}: ")))
    if not docs:
        raise FormatError(
            f"{name}: no entry of this feed could be read ({refused[0][1]})" if refused else name
        )
    return docs


def _feed_entry(name: str, stem: str, n: int, entry: Any, outlet: str | None, seen: set[str]) -> Incoming:
    content = entry.get("content") or []
    markup = max((c.get("value", "") for c in content), key=len, default="") or entry.get("summary", "")
    body = fragment_text(markup)
    title = (entry.get("title") or "").strip() or None
    # Its identity: the guid, else the link, else what it says (never its place in the
    # feed, which changes as entries come and go, and would give a new story an old id).
    key = entry.get("id") or entry.get("link") or "content:" + text_sha256(f"{title or ''}\n{body}")
    doc_id = f"{stem[:100]}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    if not valid_doc_id(doc_id):
        raise FormatError(f"{name}: the feed's name {stem!r} cannot start a doc_id")
    if doc_id in seen:
        raise FormatError(f"{name}: entry {n} repeats the id or link of an earlier entry")
    if not body.strip():
        raise FormatError(f"{name}: entry {n} ({title or key!r}) has no text")
    body = with_headline(body, " ".join(title.split()) if title else None)
    link = entry.get("link") or None
    if link is not None and not link.startswith(("http://", "https://")):
        link = None  # feedparser takes a guid for a link: keep only a real address
    try:
        doc = finish(doc_id, body, Article(title, _entry_date(entry), outlet, link), {}, detect=False)
    except FormatError as exc:
        raise FormatError(f"{name}: entry {n}: {str(exc).split(': ', 1)[-1]}") from None
    seen.add(doc_id)
    return doc


def _jsonl(name: str, raw: bytes, refused: list[tuple[str, str]] | None = None) -> list[Incoming]:
    """One document per line: ``{"doc_id", "text", "title", "published", "source", "url",
    "metadata"}`` (doc_id and text required; blank lines skipped). A bad line stops the read,
    or, with a ``refused`` list, is left out and recorded there ("line N", why)."""
    text = decode_text(raw, name)
    docs: list[Incoming] = []
    seen: set[str] = set()
    # Lines end at "\n" only (JSON Lines' rule): U+2028, U+2029 or U+0085 inside a string
    # are characters of that string, not line breaks.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            docs.append(_jsonl_line(f"{name}: line {number}", line, seen))
        except FormatError as exc:
            if refused is None:
                raise
            refused.append((f"line {number}", str(exc).removeprefix(f"{name}: line {number}: ")))
    if not docs:
        why = f" ({refused[0][0]}: {refused[0][1]})" if refused else ""
        raise FormatError(f"{name}: no documents (one JSON object per line){why}")
    return docs


def _jsonl_line(where: str, line: str, seen: set[str]) -> Incoming:
    item = _json_object(line, where, "one JSON object")
    unknown = sorted(set(item) - set(JSONL_FIELDS))
    if unknown:
        raise FormatError(f"{where}: unknown field {unknown[0]!r} (fields: {', '.join(JSONL_FIELDS)})")
    doc_id, body = item.get("doc_id"), item.get("text")
    if not isinstance(doc_id, str) or not valid_doc_id(doc_id):
        raise FormatError(f"{where}: 'doc_id' must be 1-128 letters, digits, '.', '_' or '-'")
    if doc_id in seen:
        raise FormatError(f"{where}: doc_id {doc_id!r} appears twice in this file")
    if not isinstance(body, str) or not body.strip() or "\x00" in body:
        raise FormatError(f"{where}: 'text' must be non-empty text")
    for key in ("title", "published", "source", "url"):
        if item.get(key) is not None and not isinstance(item[key], str):
            raise FormatError(f"{where}: {key!r} must be a string")
    metadata = item.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise FormatError(f"{where}: 'metadata' must be an object")
    given = Article(item.get("title"), item.get("published"), item.get("source"), item.get("url"))
    try:
        doc = finish(doc_id, body, given, metadata)
    except FormatError as exc:
        raise FormatError(f"{where}: {str(exc).split(': ', 1)[-1]}") from None
    seen.add(doc_id)
    return doc
