"""One document as it comes in, read from a file or a request, before it is split and
embedded: its text, its article fields and metadata, and the fingerprint of all three. What
every format's reader shares (``index.text.formats``, ``index.text.feeds``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from index.text.article import Article, ArticleError, check_fields, detect_article
from index.text.raw import CorpusError, text_sha256


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


def json_object(text: str, where: str, expected: str) -> dict[str, Any]:
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


def with_headline(body: str, title: str | None) -> str:
    """The stored text of a page or feed entry: its headline, a blank line, its body (so the
    headline is read and cited like any paragraph); the body alone when it starts with it."""
    if not title or " ".join(body[: len(title) + 40].split()).startswith(" ".join(title.split())):
        return body
    return f"{title}\n\n{body}"
