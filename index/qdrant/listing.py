"""Listing documents a page at a time on Qdrant, without reading every record.

Qdrant orders a scroll by one numeric payload field (``order_by``), never by a string, so each
document record carries its doc_id as numbers that sort as the doc_id does: a doc_id is at
most 128 characters of ``-.0-9A-Z_a-z`` (65 symbols, ``index.text.raw.DOC_ID``), so each
character is a base-66 digit (0 marks the end) and eight of them make one integer below 2**53
(Qdrant compares ranges as doubles, exact up to there), ``id0`` .. ``id15``. Newest first
adds ``newest`` before them (minus the publication time; undated documents after every dated
one).

A page is a keyset seek over those fields in order, each step one ordered, filtered scroll of
at most the page's size (and one): the documents that share the cursor's first ``i`` fields and come
after it in field ``i``, from the deepest ``i`` out; where a scroll ends inside a run of equal
values, that run is read in the next field. A page costs a few small requests however many
documents the store holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

ALPHABET = "-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"  # in byte order
MAX_ID = 128  # characters in a doc_id (index.text.raw.DOC_ID)
PER_KEY = 8  # base-66 digits in one integer a double holds exactly (66**8 < 2**53)
ID_FIELDS = [f"id{i}" for i in range(-(-MAX_ID // PER_KEY))]
NEWEST = "newest"
UNDATED = 1e300  # the ``newest`` of a document without a date: after every dated one
_DIGIT = {c: i + 1 for i, c in enumerate(ALPHABET)}
_BASE = len(ALPHABET) + 1

# A scroll: (filter conditions, field to order by, at most this many) -> payloads, in order.
Scroll = Callable[[list[Any], str, int], list[dict[str, Any]]]
# A condition on one field: (field, value, "gt" | "gte" | "eq").
Condition = Callable[[str, float, str], Any]


def id_keys(doc_id: str) -> list[int]:
    """The doc_id as ``len(ID_FIELDS)`` integers that compare as the doc_id does."""
    keys = []
    for lo in range(0, len(ID_FIELDS) * PER_KEY, PER_KEY):
        value = 0
        for c in doc_id[lo : lo + PER_KEY].ljust(PER_KEY, "\0"):
            value = value * _BASE + _DIGIT.get(c, 0)
        keys.append(value)
    return keys


def newest(published_ts: float | None) -> float:
    return UNDATED if published_ts is None else -published_ts


def listing_payload(doc_id: str, published_ts: float | None) -> dict[str, Any]:
    """The fields a document record carries for listing."""
    return {NEWEST: newest(published_ts), **dict(zip(ID_FIELDS, id_keys(doc_id), strict=True))}


def fields_past(doc_id: str) -> int:
    """How many of the last ``ID_FIELDS`` lie wholly past the end of ``doc_id`` (all 0): no
    other doc_id shares its values up to one of them, so a seek need not ask them."""
    return len(ID_FIELDS) - min(len(ID_FIELDS), len(doc_id) // PER_KEY + 1)


def floor_id(after: str) -> str:
    """The greatest possible doc_id at or before ``after``, which may be any string: the
    doc_ids after it are exactly those after ``after``."""
    for i, c in enumerate(after[:MAX_ID]):
        if c in _DIGIT:
            continue
        below = [a for a in ALPHABET if a < c]
        return after[:i] + below[-1] + ALPHABET[-1] * (MAX_ID - i - 1) if below else after[:i]
    return after[:MAX_ID]


class KeysetPager:
    """Pages of records in the order of ``fields`` (each record's values all distinct in the
    last field's run: the doc_id), through ``scroll`` and ``condition``."""

    def __init__(self, fields: Sequence[str], scroll: Scroll, condition: Condition) -> None:
        self.fields = list(fields)
        self.scroll = scroll
        self.condition = condition

    def page(self, limit: int, cursor: Sequence[float] | None, skip: int = 0) -> list[dict[str, Any]]:
        """``limit`` records after the one whose field values are ``cursor`` (from the
        start without one). Fields after ``len(fields) - skip`` are known not to continue
        the cursor's run (its doc_id ended before them) and are not asked."""
        if cursor is None:
            return self._first([], 0, None, limit)
        out: list[dict[str, Any]] = []
        for level in reversed(range(len(self.fields) - skip)):
            if len(out) >= limit:
                break
            same = [self.condition(self.fields[i], cursor[i], "eq") for i in range(level)]
            out += self._first(same, level, cursor[level], limit - len(out))
        return out

    def _first(self, same: list[Any], level: int, above: float | None, limit: int) -> list[dict[str, Any]]:
        """The first ``limit`` records (in full order) of those matching ``same`` whose field
        ``level`` is above ``above``."""
        if limit <= 0:
            return []
        field = self.fields[level]
        conditions = same if above is None else [*same, self.condition(field, above, "gt")]
        found = self.scroll(conditions, field, limit + 1)  # one more: does a run go on?
        if len(found) <= limit or level == len(self.fields) - 1:
            return self._sorted(found[:limit])
        last = found[limit - 1][field]
        if found[limit][field] != last:  # the page ends where a run does
            return self._sorted(found[:limit])
        done = self._sorted([r for r in found if r[field] < last])
        run = [*same, self.condition(field, last, "eq")]
        return done + self._first(run, level + 1, None, limit - len(done))

    def _sorted(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(records, key=lambda r: [r[f] for f in self.fields])
