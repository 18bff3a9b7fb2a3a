"""What kind of answer a question asks for, and whether a span is of that kind (pure).

Four kinds, read from the question's wording: a ``number`` (how many / how much / how big /
what percentage), a ``date`` or time (when / what year / by when), a ``name`` of a person or
body (who / whom / whose / which leader), a ``place`` (where / which country). A span fits a
kind by its surface form (digits and number words; years, months, days and times; capitalized
words). These are only features: the answer scorer weighs them as fitted on SQuAD-train
episodes (``qa.evaluation.fit``), so a question the patterns misread costs little.
"""

from __future__ import annotations

import re

KINDS = ("number", "date", "name", "place")

_MEASURE = r"how (?:many|much|long|big|large|old|far|tall|high|deep|wide|often|heavy|fast|small|close)"
_QUESTION_KIND = {
    "date": re.compile(
        r"\b(?:when|by when|since when|how long ago|(?:what|which|in what|in which) "
        r"(?:year|years|date|day|month|century|decade|time|era|season|period))\b",
        re.IGNORECASE,
    ),
    "number": re.compile(
        rf"\b(?:{_MEASURE}|(?:what|which) (?:percentage|percent|number|amount|proportion|share|"
        r"fraction|size|population|total|rate|price|cost|age|length|height|distance|speed))\b",
        re.IGNORECASE,
    ),
    "name": re.compile(
        r"\b(?:who|whom|whose|(?:what|which) (?:person|man|woman|leader|president|king|queen|"
        r"minister|official|agency|organi[sz]ation|group|company|party|team|army|ministry))\b",
        re.IGNORECASE,
    ),
    "place": re.compile(
        r"\b(?:where|(?:what|which|in what|in which) (?:country|city|state|region|province|"
        r"place|town|area|continent|nation|location|border|river|island))\b",
        re.IGNORECASE,
    ),
}

_NUMBER_WORDS = (
    "zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    "fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|"
    "eighty|ninety|hundred|hundreds|thousand|thousands|million|millions|billion|billions|"
    "trillion|dozen|dozens|half|quarter|third|several|few"
)
_NUMBER = re.compile(rf"\d|\b(?:{_NUMBER_WORDS})\b", re.IGNORECASE)
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_DATE = re.compile(
    rf"\b(?:1\d{{3}}|20\d{{2}}|\d{{1,4}}s|(?:{_MONTHS})\.?|monday|tuesday|wednesday|thursday|friday|"
    r"saturday|sunday|century|centuries|decade|decades|ago|today|yesterday|tomorrow|year|years|"
    r"month|months|week|weeks|day|days|spring|summer|autumn|fall|winter|dynasty|era|bc|bce|ad|ce|"
    r"morning|evening|night|noon|midnight|\d{1,2}:\d{2}|\d{1,2}(?:am|pm))\b",
    re.IGNORECASE,
)
_CAPITALIZED = re.compile(r"\b[A-Z][\w'\u2019-]*")


def question_kinds(question: str) -> frozenset[str]:
    """The kinds of answer ``question`` asks for (empty when its wording says none)."""
    return frozenset(kind for kind, pattern in _QUESTION_KIND.items() if pattern.search(question))


def span_kinds(text: str) -> frozenset[str]:
    """The kinds a span's surface form fits."""
    found = set()
    if _NUMBER.search(text):
        found.add("number")
    if _DATE.search(text):
        found.add("date")
    if _CAPITALIZED.search(text):
        found.update(("name", "place"))
    return frozenset(found)


def kind_fit(asked: frozenset[str], text: str) -> list[float]:
    """One value per kind of ``KINDS``: 1 where the question asks for it and the span fits
    it, -1 where the question asks for it and the span does not, 0 where it is not asked."""
    have = span_kinds(text)
    return [0.0 if kind not in asked else 1.0 if kind in have else -1.0 for kind in KINDS]
