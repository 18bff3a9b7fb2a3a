"""The kind of answer a question asks for, learned, and the kind of a span, by its form.

A span is typed by its form and the words around it (``span_kind``): a year, a date, an age,
a duration, money, a percentage, another measure, a count, a person, an organization, a
place, another proper name, or other words. What a question asks for is a distribution over
the same kinds (``KindModel``), a multinomial logistic regression over the question's words
and its question-word phrase, fitted on SQuAD train, where each gold span's kind (typed
the same way) is what its question asked for (``python -m qa.reading.answer_kind_fit``).
The answer scorer weighs log P(span's kind | question); a span whose kind the question
almost never asks for cannot be shown (``AnswerScorer.kind_floor``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

KINDS = (
    "person",
    "organization",
    "place",
    "name",  # a proper name that its form does not place among the three above
    "date",
    "year",
    "age",
    "duration",
    "money",
    "percent",
    "measure",
    "count",
    "other",
)

_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    "sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
    "hundred|hundreds|thousand|thousands|million|millions|billion|billions|trillion|dozen|dozens|"
    "half|quarter|several|a few|a couple"
)
_NUMBER = re.compile(rf"\d|\b(?:{_NUMBER_WORDS})\b", re.IGNORECASE)
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec"
)
_PERCENT = re.compile(r"%|\bper ?cent\b|\bpercentage points?\b", re.IGNORECASE)
_MONEY = re.compile(
    r"[$\u20ac\u00a3\u00a5\u20b9]|\b(?:dollars?|euros?|yuan|yen|rupees?|cents|pesos?|francs?|rubles?|"
    r"usd|eur|gbp)\b",
    re.IGNORECASE,
)
_AGE = re.compile(r"\b\d+[- ]years?[- ]old\b|\baged? \d+\b", re.IGNORECASE)
_AGE_AFTER = re.compile(r"^[- ]years?[- ]old\b|^,? (?:was|is) (?:\d+|the) ?(?:years? old)", re.IGNORECASE)
_YEAR = re.compile(
    r"^(?:(?:in|by|since|from|until|around|about|circa|c\.|the|early|late|mid-?)\s+)*"
    r"(?:1\d{3}|20\d{2})(?:s|\u2019s|'s)?(?:\s*(?:bc|bce|ad|ce))?$",
    re.IGNORECASE,
)
_DATE = re.compile(
    rf"\b(?:{_MONTHS})\b\.?|\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|"
    r"yesterday|tomorrow|tonight)\b|\b\d{1,2}:\d{2}\b|\b\d{1,2} ?(?:a\.?m\.?|p\.?m\.?)(?!\w)|"
    r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b|\b(?:1\d|20)\d{2}s?\b|\b\d+(?:st|nd|rd|th) "
    r"centur(?:y|ies)\b|\b(?:spring|summer|autumn|fall|winter) of\b|\bnoon\b|\bmidnight\b",
    re.IGNORECASE,
)
_DURATION = re.compile(
    r"\b(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|centuries|century|"
    r"nights?|semesters?|terms?|innings|quarters?)\b(?! old| ago)",
    re.IGNORECASE,
)
_UNITS = re.compile(
    r"(?:\d|\b)(?:miles?|mi|km|kilometres?|kilometers?|metres?|meters?|m|cm|mm|feet|foot|ft|inches|inch|"
    r"in\.|yards?|pounds?|lbs?|kg|kilograms?|grams?|g|tons?|tonnes?|ounces?|oz|horsepower|hp|mph|"
    r"km/h|kph|knots?|degrees?|\u00b0[cf]?|acres?|hectares?|square|cubic|liters?|litres?|l|gallons?|"
    r"barrels?|watts?|kw|mw|gw|kwh|volts?|gb|mb|tb|kb|ghz|mhz|fps|hz|calories?|mg|ml|psi|bpm|"
    r"points?|goals?|runs?|yards?|rebounds?|assists?|votes?|seats?)\b",
    re.IGNORECASE,
)
_ORG_WORDS = re.compile(
    r"\b(?:inc|corp|corporation|co|company|companies|ltd|llc|plc|group|university|college|school|"
    r"institute|academy|party|association|council|committee|commission|ministry|department|agency|"
    r"bureau|office|bank|court|foundation|church|army|navy|force|forces|police|club|team|league|"
    r"union|federation|fc|network|news|times|post|journal|press|records|studios?|airlines?|"
    r"motors|systems|technologies|labs?|society|board|administration|authority|service|services|"
    r"organization|organisation|senate|congress|parliament|assembly|government|tribunal|fund)\b\.?",
    re.IGNORECASE,
)
_PLACE_WORDS = re.compile(
    r"\b(?:city|county|river|mountains?|mount|mt|lake|island|islands|street|st|avenue|ave|road|"
    r"province|state|states|republic|kingdom|valley|bay|sea|ocean|coast|peninsula|desert|park|"
    r"square|district|region|village|town|airport|bridge|station|north|south|east|west|"
    r"northern|southern|eastern|western|america|europe|asia|africa|australia)\b",
    re.IGNORECASE,
)
_LINKS = frozenset(
    [
        "of",
        "the",
        "and",
        "de",
        "du",
        "la",
        "le",
        "von",
        "van",
        "der",
        "den",
        "da",
        "di",
        "del",
        "for",
        "&",
        "on",
        "in",
        "at",
        "y",
    ]
)
_WORD = re.compile(r"[\w'\u2019.&-]+")
_TITLES = re.compile(
    r"^(?:mr|mrs|ms|dr|sir|lord|lady|gen|col|sgt|lt|capt|sen|rep|gov|pres|prof|rev|st|king|queen|"
    r"prince|princess|president|senator|judge|pope|saint)\.?$",
    re.IGNORECASE,
)


def _is_proper(words: list[str], at_sentence_start: bool, common: frozenset[str]) -> bool:
    """Every content word capitalized (or an acronym), and not a lone common word that is
    capitalized only because a sentence starts with it."""
    content = [w for w in words if w.lower() not in _LINKS]
    if not content or not all(w[0].isupper() or w[0].isdigit() for w in content):
        return False
    if not any(w[0].isupper() for w in content):
        return False
    lone = len(content) == 1 and not content[0].isupper()
    return not (lone and at_sentence_start and content[0].lower() in common)


def span_kind(text: str, before: str = "", after: str = "", common: frozenset[str] = frozenset()) -> str:
    """The kind of a span by its form and the words around it (``before``, ``after``: a few
    characters of the passage either side). ``common``: lower-case words that a capital
    letter alone does not make a name (``KindModel.common``)."""
    span = text.strip()
    lowered = span.lower()
    if not span:
        return "other"
    left = before[-3:]
    if _PERCENT.search(span) or re.match(r"^\s*(?:%|per ?cent)", after, re.IGNORECASE):
        return "percent"
    if _MONEY.search(span) or re.search(r"[$\u20ac\u00a3\u00a5]\s*$", left):
        return "money"
    if _AGE.search(span) or (re.fullmatch(r"\d{1,3}", span) and _AGE_AFTER.match(after)):
        return "age"
    if _YEAR.match(span):
        return "year"
    has_number = bool(_NUMBER.search(span))
    if _DATE.search(span) and not (has_number and _DURATION.search(span) and not re.search(r"\d{4}", span)):
        return "date"
    if has_number:
        if _DURATION.search(span) or (not re.search(r"[a-z]", lowered) and _DURATION.match(after.strip())):
            return "duration"
        if _UNITS.search(span) or (not re.search(r"[a-z]", lowered) and _UNITS.match(after.strip())):
            return "measure"
        return "count"
    words = _WORD.findall(span)
    start = not before.strip() or bool(re.search(r"[.?!:\"\u201c]\s*$", before))
    if words and _is_proper(words, start, common):
        if _TITLES.match(words[0]) and len(words) > 1:
            return "person"
        if _ORG_WORDS.search(span) or (len(words) == 1 and words[0].isupper() and len(words[0]) > 1):
            return "organization"
        if _PLACE_WORDS.search(span):
            return "place"
        return "name"
    return "other"


# The question words whose phrase ("how many", "what year", "which company") says most.
_WH = ("what", "which", "who", "whom", "whose", "when", "where", "why", "how", "name", "whats")
_TOKEN = re.compile(r"[a-z0-9]+")


def question_features(question: str) -> list[str]:
    """The words of a question and the phrase that starts at its question word."""
    words = _TOKEN.findall(question.lower())
    out = [f"w:{w}" for w in words]
    at = next((i for i, w in enumerate(words) if w in _WH), None)
    if at is None:
        out.append("wh:none")
        return out
    wh = words[at : at + 3]
    out += [f"wh:{wh[0]}", "wh1:" + " ".join(wh[:2]), "wh2:" + " ".join(wh[:3])]
    if at + 1 < len(words):
        out.append(f"whnext:{words[at + 1]}")
    return out


@dataclass(frozen=True)
class KindModel:
    """P(kind | question): a multinomial logistic regression over ``question_features``."""

    vocabulary: dict[str, int]
    weights: np.ndarray  # [features, kinds]
    bias: np.ndarray  # [kinds]
    common: frozenset[str]  # lower-case words that a capital letter alone does not make a name

    def probabilities(self, question: str) -> dict[str, float]:
        z = self.bias.copy()
        for f in set(question_features(question)):
            i = self.vocabulary.get(f)
            if i is not None:
                z += self.weights[i]
        z -= z.max()
        p = np.exp(z)
        p /= p.sum()
        return {k: float(v) for k, v in zip(KINDS, p, strict=True)}

    @classmethod
    def load(cls, path: Path) -> KindModel:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if tuple(data["kinds"]) != KINDS:
            raise ValueError(f"{path} was fitted on kinds {data['kinds']}, this code types {KINDS}")
        names = data["features"]
        return cls(
            vocabulary={f: i for i, f in enumerate(names)},
            weights=np.array(data["weights"], dtype=np.float64).reshape(len(names), len(KINDS)),
            bias=np.array(data["bias"], dtype=np.float64),
            common=frozenset(data["common"]),
        )

    def to_json(self, **provenance: object) -> str:
        names = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        return json.dumps(
            {
                "kinds": list(KINDS),
                "features": names,
                "weights": [round(float(v), 2) for v in self.weights.reshape(-1)],
                "bias": [round(float(v), 4) for v in self.bias],
                "common": sorted(self.common),
                **provenance,
            },
            separators=(",", ":"),
        )


def kind_log_probability(asks: Mapping[str, float], kind: str) -> float:
    """log P(kind | question), floored so that one feature cannot run away."""
    return math.log(max(asks.get(kind, 0.0), 1e-4)) if asks else 0.0
