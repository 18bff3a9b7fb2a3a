"""Article fields of a news document: headline, publication date, outlet and address.

They come from three places, in order of trust: given explicitly (API, CLI, a sidecar
``.json``, YAML front matter, a feed entry, an HTML page's metadata), or detected in plain
text where the article states them: a leading headline line, a date line near the top
("date 2021-07-05 WORLD", "July 5, 2021", "Published: ..."), an outlet line ("SOURCE:AFP",
"originally published by Radio Free Europe/Radio Liberty", a wire dateline "KABUL (Reuters) -").
Detection never guesses from the body's prose: a date inside a sentence ("said on July 3")
or an agency quoted in it ("told the AFP news agency") is not the article's own.

``published`` is kept as ISO 8601 text (a date, or a date-time with its offset); its
``published_ts`` (seconds since the epoch, UTC; a date alone is its midnight UTC) is what
filters and sorting compare.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

FIELDS = ("title", "published", "source", "url")
MAX_TITLE_CHARS = 500
MAX_SOURCE_CHARS = 200
MAX_URL_CHARS = 2048
# Where a headline, a date line or a byline is looked for: the article's first lines.
HEAD_LINES = 12
# An outlet line ("SOURCE:AFP") is usually the last line, a reprint note near the top.
TAIL_LINES = 6

_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for name in names
}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_ISO_DATE = re.compile(
    r"(?<!\d)(\d{4})-(\d{2})-(\d{2})"  # the date
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?)?(?!\d)"  # a time, its zone
)
_MONTH_FIRST = re.compile(rf"\b({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.IGNORECASE)
_DAY_FIRST = re.compile(rf"\b(\d{{1,2}})\s+({_MONTH})\.?,?\s+(\d{{4}})\b", re.IGNORECASE)
# Words a date line may carry besides the date: a label, a weekday, a section name, a time.
_DATE_LINE_WORDS = re.compile(
    r"^(?:date[d]?|published|posted|updated|last updated|on|at|by|gmt|utc|am|pm|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|wed|thu|fri|sat|sun|"
    r"[A-Z]{2,15})$"
)
_SOURCE_LINE = re.compile(r"^\s*(?:source|via)\s*:\s*(\S.{0,80}?)\s*$", re.IGNORECASE)
_REPRINT = re.compile(
    r"\boriginally (?:published|appeared) (?:by|in|on)\s+(?:the\s+)?"
    r"([A-Z][\w&'./-]*(?:\s+(?:[A-Z][\w&'./-]*|of|and|for|the|&))*)"
)
_WIRE_DATELINE = re.compile(  # "KABUL (Reuters) -", "KABUL, Afghanistan (AP) —"
    r"^[A-Z][A-Za-z .,'-]{1,40}\((Reuters|AP|AFP|Bloomberg|Xinhua|UPI|dpa|IANS|PTI)\)\s*[-\u2013\u2014]"
)
# Lines that label something rather than head the article: "SOURCE: AFP", "By Jane Doe".
_LABEL_LINE = re.compile(
    r"^(?:source|via|by|photo|photos|credit|image|caption|editor|editing|reporting|writing|"
    r"updated|published|posted|date|filed|tags?|category|read more|related)\b\s*:?",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^\s*[\u2022\u00b7*\-\u2013]\s")
_SENTENCE_END = re.compile(r"[.!;:,]['\"\u201d\u2019)]*$")
_PROMO = re.compile(
    r"\b(subscribe|sign up|newsletter|telegram|follow us|join our|click here|advertisement)\b", re.I
)


class ArticleError(ValueError):
    """An article field that cannot be taken (a date that is not one, a URL that is not one)."""


@dataclass(frozen=True)
class Article:
    """The article fields of one document, and which of them were detected in its text."""

    title: str | None = None
    published: str | None = None
    source: str | None = None
    url: str | None = None
    detected: frozenset[str] = field(default_factory=frozenset)
    # Of the detected fields, those the page's own metadata declares (not found in the text).
    from_page: frozenset[str] = field(default_factory=frozenset)

    def merged(self, other: Article) -> Article:
        """These fields, with ``other``'s filling the ones not set here."""
        values = {
            name: getattr(self, name) if getattr(self, name) is not None else getattr(other, name)
            for name in FIELDS
        }
        detected = {n for n in FIELDS if getattr(self, n) is None and n in other.detected}
        from_page = {n for n in detected if n in other.from_page} | (self.from_page & self.detected)
        return Article(
            **values,
            detected=frozenset(detected | (self.detected & set(FIELDS))),
            from_page=frozenset(from_page),
        )


def normalize_published(value: str | date | datetime) -> str:
    """ISO 8601 text for a publication date: ``2021-07-05`` or ``2021-07-05T09:30:00+00:00``.
    Accepts ISO dates and date-times (``Z`` or an offset; none means UTC) and dates written
    out ("July 5, 2021", "5 July 2021"); anything else is an ``ArticleError``."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    text = " ".join(str(value).split())
    if not text:
        raise ArticleError("published is empty: give a date such as 2021-07-05")
    found = _parse_date(text, whole=True)
    if found is None:
        raise ArticleError(
            f"published {text[:60]!r} is not a date: use ISO 8601 (2021-07-05 or 2021-07-05T09:30:00Z)"
        )
    return found


def published_day(published: str) -> str:
    """The calendar day an article belongs to, as date filters see it: its date, or for a
    date-time the UTC day of that instant (``2021-07-05T05:00:00+14:00`` is 4 July, and
    ``published_after=2021-07-05`` leaves it out), so that what is shown and what is filtered
    agree; the stored value keeps its offset."""
    if len(published) <= 10:
        return published
    moment = datetime.fromisoformat(published)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).date().isoformat()


def published_ts(published: str | None) -> float | None:
    """Seconds since the epoch (UTC) of a normalized ``published``; None for no date."""
    if not published:
        return None
    if len(published) == 10:
        return datetime.fromisoformat(published).replace(tzinfo=UTC).timestamp()
    return datetime.fromisoformat(published).timestamp()


def date_bound(value: str | date | datetime, end_of_day: bool) -> float:
    """A ``published_after`` / ``published_before`` bound as epoch seconds. A date alone is
    its whole day: ``after`` from its first second, ``before`` to its last."""
    text = normalize_published(value)
    ts = published_ts(text)
    assert ts is not None
    if len(text) == 10 and end_of_day:
        return ts + timedelta(days=1).total_seconds() - 1e-3
    return ts


def check_url(value: str) -> str:
    url = value.strip()
    if not re.fullmatch(r"https?://[^\s<>\"]{1,2040}", url):
        raise ArticleError(f"url {value[:80]!r} is not an http(s) address")
    return url


def check_fields(article: Article) -> Article:
    """Explicit fields, checked and normalized (a clear ``ArticleError`` otherwise)."""
    title = " ".join(article.title.split()) if article.title is not None else None
    if title is not None and len(title) > MAX_TITLE_CHARS:
        raise ArticleError(f"title is {len(title)} characters; the limit is {MAX_TITLE_CHARS}")
    source = " ".join(article.source.split()) if article.source is not None else None
    if source is not None and len(source) > MAX_SOURCE_CHARS:
        raise ArticleError(f"source is {len(source)} characters; the limit is {MAX_SOURCE_CHARS}")
    published = normalize_published(article.published) if article.published is not None else None
    url = check_url(article.url) if article.url is not None else None
    return replace(article, title=title or None, source=source or None, published=published, url=url or None)


def date_in(text: str) -> str | None:
    """The first date written in ``text`` (ISO text), wherever it is: "November 19, 2019,
    07:47 PM EST" gives 2019-11-19 (a time in a zone by name is not read)."""
    return _parse_date(text, whole=False)


def _parse_date(text: str, whole: bool) -> str | None:
    """The first date in ``text`` as ISO text; with ``whole``, only when the date is all of it."""
    candidates = []
    for pattern in (_ISO_DATE, _MONTH_FIRST, _DAY_FIRST):
        m = pattern.fullmatch(text) if whole else pattern.search(text)
        if m:
            candidates.append(m)
    for m in sorted(candidates, key=lambda m: m.start()):
        try:
            if m.re is _ISO_DATE:
                y, mo, d, hh, mm, ss, tz = m.groups()
                if hh is None:
                    return date(int(y), int(mo), int(d)).isoformat()
                zone = UTC if tz in (None, "Z") else datetime.strptime(tz.replace(":", ""), "%z").tzinfo
                moment = datetime(int(y), int(mo), int(d), int(hh), int(mm), int(ss or 0), tzinfo=zone)
                return moment.isoformat(timespec="seconds")
            if m.re is _MONTH_FIRST:
                month, day, year = _MONTHS[m.group(1).lower()], int(m.group(2)), int(m.group(3))
            else:
                day, month, year = int(m.group(1)), _MONTHS[m.group(2).lower()], int(m.group(3))
            return date(year, month, day).isoformat()
        except ValueError:  # 2021-02-30, July 32, 2021
            continue
    if whole:
        try:  # what fromisoformat takes that the patterns do not (week dates, compact forms)
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        return normalize_published(moment)
    return None


def _date_line(line: str) -> str | None:
    """The date of a line that is a date line: a date and at most a few label words."""
    if len(line) > 60:
        return None
    found = _parse_date(line, whole=False)
    if found is None:
        return None
    rest = _ISO_DATE.sub(" ", _MONTH_FIRST.sub(" ", _DAY_FIRST.sub(" ", line)))
    words = re.findall(r"[^\s,|:\u2013\u2014/-]+", rest)
    times = [w for w in words if re.fullmatch(r"\d{1,2}(?:[:.]\d{2})?", w)]  # "10:30" is split at ":"
    label_words = [w for w in words if w not in times]
    if len(label_words) > 3 or not all(
        _DATE_LINE_WORDS.match(w.strip(".").lower() if not w.isupper() else w) for w in label_words
    ):
        return None
    return found


def _headline(line: str) -> bool:
    """A line that reads as a headline: 3-25 words, not ending like a sentence, not a label,
    a bullet, a date line, a photo caption or a call to subscribe."""
    words = line.split()
    if not 3 <= len(words) <= 25 or len(line) > 200:
        return False
    if _SENTENCE_END.search(line) or line.endswith("!"):
        return False
    if line.isupper() or _BULLET.match(line) or _PROMO.search(line) or _date_line(line):
        return False
    if _LABEL_LINE.match(line):
        return False
    if re.search(r"\([^)]*/[^)]*\)\s*$", line):  # "Afghan border guards (Spc. Name/Agency)": a photo credit
        return False
    letters = sum(c.isalpha() for c in line)
    return letters >= 0.6 * len(line.replace(" ", ""))


def detect_article(text: str) -> Article:
    """The article fields a plain-text news article states about itself (see the module
    docstring); each found is marked detected."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    head = [line for line in lines if line][:HEAD_LINES]
    tail = [line for line in lines if line][-TAIL_LINES:]
    title = published = source = None
    for line in head:
        if _PROMO.search(line) and len(line.split()) <= 30:
            continue  # "Join our Telegram channel ...": page furniture above the article
        if published is None:
            published = _date_line(line)
            if published is not None:
                continue
        if title is None and _headline(line):
            title = line
            continue
        if len(line.split()) > 25 or (_SENTENCE_END.search(line) and len(line.split()) > 12):
            break  # the body has begun: a headline or date line comes before it
    for line in [*tail, *head]:
        m = _SOURCE_LINE.match(line)
        if m:
            source = m.group(1).strip(" .")
            break
    if source is None:
        for line in head[:6]:
            m = _REPRINT.search(line) or _WIRE_DATELINE.match(line)
            if m:
                source = m.group(1).strip(" .")
                source = re.sub(r"\s+(?:and|for|of|the|&)$", "", source)
                break
    found = {
        name
        for name, value in (("title", title), ("published", published), ("source", source))
        if value is not None
    }
    return Article(title=title, published=published, source=source, detected=frozenset(found))
