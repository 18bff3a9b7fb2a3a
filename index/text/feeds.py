"""Files that hold many documents: RSS, Atom and RDF feeds (one document per entry) and
JSON Lines exports (one per line). A bad entry or line stops the read, or, with a
``refused`` list, costs that entry only."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from index.text.article import Article
from index.text.incoming import FormatError, Incoming, finish, json_object, with_headline
from index.text.raw import decode_text, text_sha256, valid_doc_id

JSONL_FIELDS = ("doc_id", "text", "title", "published", "source", "url", "metadata")
_BLOCKS = frozenset(("p", "div", "br", "li", "ul", "ol", "blockquote", "pre", "table", "tr", "figure"))
_BLOCKS |= {"h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "header", "footer"}


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


def read_feed(
    name: str, stem: str, text: str, refused: list[tuple[str, str]] | None = None
) -> list[Incoming]:
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


def read_jsonl(name: str, raw: bytes, refused: list[tuple[str, str]] | None = None) -> list[Incoming]:
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
    item = json_object(line, where, "one JSON object")
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
