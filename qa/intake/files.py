"""Files a person hands to ``qa add``, checked before they are sent: the format each is
read in (by its name; a file of no known format is text unless it is binary, which is
refused in one line), and, for ``--strict``, a feed or JSON Lines file read whole so that a
bad entry stops it before any part goes out."""

from __future__ import annotations

from index.text.formats import MULTI, binary_kind, format_of, not_a_format, read_document
from index.text.raw import CorpusError
from qa.errors import InvalidDocument

__all__ = ["MULTI", "check_whole", "file_format"]


def file_format(path: str, raw: bytes) -> str:
    """``text``, ``html``, ``feed`` or ``jsonl``; InvalidDocument for a binary file."""
    fmt = format_of(path.rsplit("/", 1)[-1])
    if fmt is None:
        what = binary_kind(raw)
        if what is not None:
            raise InvalidDocument(not_a_format(path, what))
        return "text"
    return fmt


def check_whole(name: str, raw: bytes, fmt: str) -> None:
    """InvalidDocument naming the first bad entry or line of the file."""
    try:
        read_document(name, raw, fmt)
    except CorpusError as exc:
        raise InvalidDocument(str(exc)) from None
