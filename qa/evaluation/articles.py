"""How right the article fields read from real pages are: each page's headline and
publication date as the product reads them (``index.text.formats``), against what the page
itself declares for machines (JSON-LD ``headline``/``datePublished``, else Open Graph
``og:title``/``article:published_time``). ``qa eval articles DIR``."""

from __future__ import annotations

import html as html_escapes
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from index.text.article import ArticleError, date_in, normalize_published
from index.text.formats import read_document
from qa.evaluation.news import load

_ARTICLE_TYPES = ("Article", "NewsArticle", "ReportageNewsArticle", "BlogPosting", "AnalysisNewsArticle")


@dataclass(frozen=True)
class Declared:
    """What a page declares of itself for machines: every headline it states (JSON-LD
    ``headline``, ``og:title``, ``twitter:title``) and its publication time (JSON-LD
    ``datePublished``, else ``article:published_time``), as written; (value, where) each."""

    titles: tuple[tuple[str, str], ...]
    published: tuple[str, str] | None
    site: str | None  # og:site_name, as written


def _json_ld_objects(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        for item in value:
            yield from _json_ld_objects(item)
    elif isinstance(value, dict):
        yield value
        yield from _json_ld_objects(value.get("@graph", []))


def _is_article(obj: dict[str, Any]) -> bool:
    kinds = obj.get("@type", [])
    kinds = kinds if isinstance(kinds, list) else [kinds]
    return any(isinstance(k, str) and k.endswith(_ARTICLE_TYPES) for k in kinds)


def declared(page: str) -> Declared:
    """Read independently of the product's own reading (``index.text.page_meta``)."""
    from lxml import html as lxml_html

    tree = lxml_html.fromstring(page)
    titles: list[tuple[str, str]] = []
    published = None
    for script in tree.xpath('//script[@type="application/ld+json"]'):
        try:
            data = json.loads(script.text_content())
        except ValueError:
            continue
        for obj in _json_ld_objects(data):
            if not _is_article(obj):
                continue
            if isinstance(obj.get("headline"), str) and obj["headline"].strip():
                titles.append((obj["headline"], "JSON-LD headline"))
            when = obj.get("datePublished")
            if published is None and isinstance(when, str) and when.strip() and not when.startswith("0001"):
                published = (when, "JSON-LD datePublished")
    for name in ("og:title", "twitter:title"):
        for value in tree.xpath(f'//meta[@property="{name}" or @name="{name}"]/@content')[:1]:
            if value.strip():
                titles.append((str(value), name))
    if published is None:
        for value in tree.xpath('//meta[@property="article:published_time"]/@content')[:1]:
            if value.strip():
                published = (str(value), "article:published_time")
    site = next(iter(tree.xpath('//meta[@property="og:site_name"]/@content')), None)
    return Declared(tuple(titles), published, str(site) if site else None)


_TYPOGRAPHY = str.maketrans("\u2018\u2019\u201c\u201d\u2013\u2014", "''\"\"--")


def _plain(text: str) -> str:
    """A headline compared as a reader would: entities, case, quotes, dashes and spacing aside."""
    text = html_escapes.unescape(html_escapes.unescape(text))
    text = unicodedata.normalize("NFKC", text).casefold()
    text = text.translate(_TYPOGRAPHY)
    return " ".join(re.sub(r"[^\w$%'\"-]+", " ", text).split())


def _headlines(declared_as: str, site: str | None) -> set[str]:
    """A declared headline as is, and without the site's name (``og:site_name``) where it
    ends with it after a separator ("Clymer manual review | MoreBikes")."""
    forms = {_plain(declared_as)}
    if site and _plain(declared_as).endswith(_plain(site)):
        cut = _plain(declared_as)[: -len(_plain(site))].rstrip(" |-:")
        forms.add(cut.strip())
    return forms


def _same_time(ours: str, declared_as: str) -> bool:
    """The same publication day as the page writes it (in its own time zone), or the same
    instant where both have a time."""
    try:
        theirs = normalize_published(declared_as)
    except ArticleError:
        found = date_in(declared_as)
        if found is None:
            return False
        theirs = found
    if len(ours) > 10 and len(theirs) > 10:
        return datetime.fromisoformat(ours) == datetime.fromisoformat(theirs)
    return ours[:10] == theirs[:10]


def run(folder: Path, misses: bool = False) -> dict[str, Any]:
    """Right / wrong / missing / undeclared per field over the pages of a news folder
    (``pages/*.html.gz``); with ``misses``, each page's field that is not right."""
    news = load(folder)
    tally = {f: {"right": 0, "wrong": 0, "missing": 0, "undeclared": 0} for f in ("title", "published")}
    wrong: list[str] = []
    for page, raw in news.pages.items():
        truth = declared(raw.decode("utf-8", "replace"))
        try:
            doc = read_document(f"{page}.html", raw, "html")[0]
            article = doc.article
            ours = {"title": article.title, "published": article.published}
        except Exception as exc:
            ours = {"title": None, "published": None}
            wrong.append(f"{page}: not read ({exc})")
        refs = {"title": list(truth.titles), "published": [truth.published] if truth.published else []}
        for field, said in refs.items():
            got = ours[field]
            if not said:
                tally[field]["undeclared"] += 1
                continue
            says = "; ".join(f"{value!r} ({where})" for value, where in said)
            if got is None:
                tally[field]["missing"] += 1
                wrong.append(f"{page} {field}: missing; the page says {says}")
                continue
            if field == "title":
                same = any(_plain(got) in _headlines(value, truth.site) for value, _ in said)
            else:
                same = _same_time(got, said[0][0])
            tally[field]["right" if same else "wrong"] += 1
            if not same:
                wrong.append(f"{page} {field}: {got!r}; the page says {says}")
    report: dict[str, Any] = {"pages": len(news.pages)}
    for field, counts in tally.items():
        judged = counts["right"] + counts["wrong"] + counts["missing"]
        report[field] = {**counts, "right_share": round(counts["right"] / judged, 3) if judged else None}
    if misses:
        report["wrong"] = wrong
    return report


def show(report: dict[str, Any]) -> None:
    print(f"{report['pages']} pages; each field against what the page declares (JSON-LD, else Open Graph)")
    print(f"{'field':<10} {'right':>6} {'wrong':>6} {'missing':>8} {'undeclared':>11} {'right share':>12}")
    for field in ("title", "published"):
        c = report[field]
        print(
            f"{field:<10} {c['right']:>6} {c['wrong']:>6} {c['missing']:>8} {c['undeclared']:>11} "
            f"{c['right_share']:>12}"
        )
    for line in report.get("wrong", []):
        print("  " + line)
