"""What a news page declares about itself for machines, and its headline made clean.

A page states its headline and publication time in several places: JSON-LD (an ``Article``
object's ``headline`` and ``datePublished``), Open Graph (``og:title``,
``article:published_time``), ``itemprop`` microdata, older ``<meta name="pubdate">`` tags,
and its ``<title>``, which most sites end with their own name ("… | CNN Politics",
"… - 9to5Mac"). The declared publication time is the one to take: a page also states when it
was modified (``dateModified``, ``article:modified_time``), and a date guessed from the page
(htmldate) can be either. A declared value that is not a plausible date ("0001-01-01") is
no declaration.
"""

from __future__ import annotations

import html as html_escapes
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from index.text.article import ArticleError, date_in, normalize_published

# JSON-LD types whose headline and dates are the page's article's.
_ARTICLE_TYPES = ("Article", "NewsArticle", "ReportageNewsArticle", "BlogPosting", "AnalysisNewsArticle")
# <meta> names, in order of trust, that declare a publication time.
_PUBLISHED_META = (
    "article:published_time",
    "datepublished",
    "og:published_time",
    "pubdate",
    "publishdate",
    "publish-date",
    "parsely-pub-date",
    "sailthru.date",
    "dc.date.issued",
    "dcterms.created",
)
_HEADLINE_META = ("og:title", "twitter:title")
_SITE_META = ("og:site_name", "application-name", "twitter:site", "publisher")
# Between a headline and a site name in a <title>: "Headline | Site", "Site - Headline".
_SEPARATORS = (" | ", " - ", " \u2013 ", " \u2014 ", " :: ", " \u00bb ", " \u00ab ", " \u00b7 ", " / ")
_DATE_ALONE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")
_TAG = re.compile(r"<[^>]{0,300}>")
EARLIEST_YEAR = 1990  # a news page's date before this is a placeholder ("0001-01-01"), not a date


@dataclass(frozen=True)
class PageFields:
    """What a page declares: its headlines (most trusted first), its publication time
    (normalized ISO 8601), and the names its site goes by."""

    headlines: tuple[str, ...] = ()
    published: str | None = None
    sites: tuple[str, ...] = field(default_factory=tuple)


def _json_ld_objects(value: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    if depth > 8:
        return
    if isinstance(value, list):
        for item in value[:200]:
            yield from _json_ld_objects(item, depth + 1)
    elif isinstance(value, dict):
        yield value
        yield from _json_ld_objects(value.get("@graph", []), depth + 1)


def _is_article(obj: dict[str, Any]) -> bool:
    kinds = obj.get("@type", [])
    kinds = kinds if isinstance(kinds, list) else [kinds]
    return any(isinstance(k, str) and k.endswith(_ARTICLE_TYPES) for k in kinds)


def clean_text(value: str) -> str:
    """A declared string as a reader sees it: entities decoded, markup gone, spacing one."""
    for _ in range(2):  # "&amp;#8217;" is escaped twice on some sites
        value = html_escapes.unescape(value)
    return " ".join(_TAG.sub("", value).split())


def plausible_published(value: str, now: datetime | None = None) -> str | None:
    """A declared publication time, normalized, or None when it is not a date of news
    (unparseable, before ``EARLIEST_YEAR``, or more than a day in the future)."""
    try:
        text = normalize_published(clean_text(value))
    except ArticleError:
        found = date_in(clean_text(value))  # "November 19, 2019, 07:47 PM EST": its date
        if found is None:
            return None
        text = found
    moment = datetime.fromisoformat(text)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    latest = (now or datetime.now(UTC)) + timedelta(days=1)
    return text if moment.year >= EARLIEST_YEAR and moment <= latest else None


def page_fields(markup: str) -> PageFields:
    """The headline, publication time and site names ``markup`` declares (empty where the
    page declares none or cannot be parsed)."""
    from lxml import html as lxml_html
    from lxml.etree import ParserError

    try:
        tree = lxml_html.fromstring(markup)
    except (ParserError, ValueError):
        return PageFields()
    headlines: list[str] = []
    published: list[str] = []
    sites: list[str] = []
    for script in tree.xpath('//script[@type="application/ld+json"]')[:20]:
        try:
            data = json.loads(script.text_content()[:1_000_000])
        except (ValueError, RecursionError):
            continue
        for obj in _json_ld_objects(data):
            if not _is_article(obj):
                continue
            if isinstance(obj.get("headline"), str):
                headlines.append(obj["headline"])
            if isinstance(obj.get("datePublished"), str):
                published.append(obj["datePublished"])
            publisher = obj.get("publisher")
            if isinstance(publisher, dict) and isinstance(publisher.get("name"), str):
                sites.append(publisher["name"])
    metas: dict[str, str] = {}
    for meta in tree.xpath("//meta[@content]")[:2000]:
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").strip().lower()
        if key and key not in metas:
            metas[key] = meta.get("content") or ""
    headlines += [metas[k] for k in _HEADLINE_META if k in metas]
    published += [metas[k] for k in _PUBLISHED_META if k in metas]
    published += [str(t) for t in tree.xpath('//*[@itemprop="datePublished"]/@datetime')[:3]]
    sites += [metas[k].lstrip("@") for k in _SITE_META if k in metas]
    canonical = tree.xpath('//link[@rel="canonical"]/@href') or [metas.get("og:url", "")]
    host = urlsplit(str(canonical[0]).strip()).hostname or ""
    if host:
        sites.append(host.removeprefix("www."))
    when = next((p for p in map(plausible_published, published) if p is not None), None)
    return PageFields(
        headlines=tuple(dict.fromkeys(h for h in map(clean_text, headlines) if h)),
        published=when,
        sites=tuple(dict.fromkeys(s for s in map(clean_text, sites) if s)),
    )


def _key(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.casefold())


def _names_site(part: str, sites: tuple[str, ...], loose: bool = True) -> bool:
    """Whether a piece cut off a title is the site's name: the same name ("TheHill" for
    thehill.com, "Sportsnet.ca") or most of it ("News Nation" for newsnationtv.com, "The
    Anti-June Cleaver" for antijunecleaver.com), never a few words a long name contains
    ("New York" is not "The New York Times"). Not ``loose`` (a piece before the headline):
    the same name only."""
    key = _key(part)
    if not key or len(part.split()) > 8:
        return False
    if loose and _DATE_ALONE.fullmatch(part.strip()):
        return True  # a date stamped beside the site's name ("DW | 19.01.2020")
    for site in sites:
        for name in {_key(site), _key(site.split(".")[0]) if " " not in site else ""} - {""}:
            short, long = sorted((key, name), key=len)
            if key == name:
                return True
            if not loose:
                continue
            if short in long and len(short) >= 0.7 * len(long) and len(short) >= 3:
                return True
            if (
                len(part.split()) <= 3
                and len(name) >= 2
                and part.casefold().startswith(site.casefold() + " ")
            ):
                return True  # the site and a section of it ("CNN Politics")
    return False


def clean_headline(title: str, sites: tuple[str, ...]) -> str:
    """``title`` without the site's name before or after it ("Headline | Site",
    "Site: Headline"), and without markup; unchanged where no piece names the site."""
    title = clean_text(title)
    for site in sites:  # a site name with a separator of its own ("Remember 80/90 - Memorabilia")
        for sep in _SEPARATORS:
            if len(title) > len(sep + site) and title.casefold().endswith((sep + site).casefold()):
                title = title[: -len(sep + site)].strip()
    changed = True
    while changed:
        changed = False
        for sep in (*_SEPARATORS, ": "):
            head, _, tail = title.rpartition(sep)
            if head and sep != ": " and _names_site(tail, sites):
                title, changed = head.strip(), True
                break
            first, _, rest = title.partition(sep)
            if rest and _names_site(first, sites, loose=False):
                title, changed = rest.strip(), True
                break
    return title
