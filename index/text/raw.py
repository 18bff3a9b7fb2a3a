"""The first checks any text meets: a doc_id that cannot spell a path, UTF-8 text, its hash."""

from __future__ import annotations

import hashlib
import re

DOC_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class CorpusError(ValueError):
    """A corpus file or document that cannot be ingested."""


def valid_doc_id(doc_id: str) -> bool:
    """Letters, digits, '.', '_' and '-', at most 128, starting with a letter or digit, so
    no doc_id can spell a path."""
    return bool(DOC_ID.fullmatch(doc_id))


def text_sha256(text: str) -> str:
    # surrogatepass: a hash is taken before the text's checks may refuse a lone surrogate
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def decode_text(raw: bytes, name: str) -> str:
    """UTF-8 text (a BOM is dropped); binary or other encodings are refused."""
    if b"\x00" in raw:
        raise CorpusError(f"{name}: binary data, not a text document")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return text
