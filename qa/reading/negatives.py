"""On-topic questions without an answer, made from answerable ones (pure).

In news the question the corpus cannot answer is about a story it covers, asking a detail
nobody reported. Two ways to make such questions from SQuAD-train episodes, for training
the reader's "no answer" and fitting the answer scorer:

- *removed*: the question with the passages beside its gold paragraph, the gold paragraph
  (and every passage holding a gold answer) left out: the article is there, the answer not;
- *perturbed*, in the manner of SQuAD 2.0 (Rajpurkar et al. 2018): the name, number or date
  the question turns on (one its paragraph mentions) swapped for one the paragraph does not
  mention, read against its own paragraph: still on topic, no longer answered there.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

# Runs of capitalized words ("Nikola Tesla", "the Eiffel Tower" -> "Eiffel Tower").
_NAME = re.compile(r"\b[A-Z][\w'\u2019.-]*(?:\s+(?:of\s+|de\s+|the\s+)?[A-Z][\w'\u2019.-]*)*")
_NUMBER = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?![\w,])|(?<![\w.,])\d+(?:\.\d+)?(?![\w,])")
_YEAR = re.compile(r"^(?:1[5-9]\d\d|20[0-4]\d)$")
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_QUESTION_WORDS = {
    "What", "Which", "Who", "Whom", "Whose", "When", "Where", "Why", "How", "In", "On", "At",
    "The", "A", "An", "Is", "Are", "Was", "Were", "Did", "Do", "Does", "To", "For", "By",
    "From", "After", "Before", "During", "According", "Along", "Of", "As", "If", "I",
}  # fmt: skip


def names_in(question: str) -> list[tuple[int, int]]:
    """Character spans of the capitalized names of ``question`` (question words and a
    capitalized first word that is not a name left out)."""
    out = []
    for m in _NAME.finditer(question):
        start, words = m.start(), m.group().split(" ")
        while words and words[0] in _QUESTION_WORDS:
            start += len(words[0]) + 1
            words = words[1:]
        text = re.sub(r"(?:['\u2019]s?|\.)$", "", " ".join(words))
        # A capitalized first word is most often just a sentence's start ("Laypersons ...").
        if text and text not in _MONTHS and (start > 0 or " " in text):
            out.append((start, start + len(text)))
    return out


def name_pool(questions: Sequence[str]) -> list[str]:
    """Every name of ``questions``: what a name is swapped for."""
    return sorted({q[s:e] for q in questions for s, e in names_in(q)})


def _other_number(text: str, context: str, rng: random.Random) -> str | None:
    if _YEAR.match(text):
        candidates = [str(int(text) + d) for d in (-30, -17, -9, -4, -2, 3, 6, 11, 23)]
    else:
        value = float(text.replace(",", ""))
        if value == 0:
            return None
        factors = (0.3, 0.5, 1.5, 2.0, 3.0, 7.0)
        candidates = []
        for f in factors:
            v = value * f
            shown = f"{v:,.0f}" if "," in text else (f"{v:.0f}" if "." not in text else f"{v:.1f}")
            candidates.append(shown)
    candidates = [c for c in candidates if c not in context and c != text]
    return rng.choice(candidates) if candidates else None


def perturb(question: str, context: str, pool: Sequence[str], rng: random.Random) -> str | None:
    """``question`` with one name, number or month it shares with ``context`` swapped for
    one that ``context`` does not mention; None when it has nothing to swap."""
    options: list[tuple[int, int, str]] = []
    for s, e in names_in(question):
        name = question[s:e]
        if name in context:
            others = [p for p in rng.sample(pool, min(len(pool), 20)) if p not in context and p != name]
            if others:
                options.append((s, e, others[0]))
    for m in _NUMBER.finditer(question):
        if m.group() in context:
            other = _other_number(m.group(), context, rng)
            if other:
                options.append((m.start(), m.end(), other))
    for month in _MONTHS:
        at = question.find(month)
        if at >= 0 and month in context:
            others = [x for x in _MONTHS if x not in context]
            if others:
                options.append((at, at + len(month), rng.choice(others)))
    if not options:
        return None
    s, e, other = rng.choice(options)
    return question[:s] + other + question[e:]


def on_topic_negatives(
    records: Sequence[dict[str, Any]], share: float, rng: random.Random
) -> list[dict[str, Any]]:
    """No-answer episodes made from answerable ``records`` (``qa.evaluation.episodes``):
    about ``share`` of them each way, removed and perturbed. A no-answer record has
    ``negative`` set and its ``answers`` empty; ``context`` is the passage read first
    (empty when removed)."""
    pool = name_pool([r["question"] for r in records])
    out = []
    for r in records:
        if rng.random() < share and r["distractors"]:
            out.append({**r, "context": "", "answers": [], "negative": "removed"})
        if rng.random() < share:
            changed = perturb(r["question"], r["context"], pool, rng)
            if changed:
                out.append({**r, "question": changed, "answers": [], "negative": "perturbed"})
    return out
