"""SQuAD v1.1 data: loading, answer normalization and the official EM/F1 scores."""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


@dataclass(frozen=True)
class SquadExample:
    """One question over one paragraph, with its gold answers (text and character start)."""

    qid: str
    title: str
    question: str
    context: str
    answers: tuple[tuple[str, int], ...]


def load_squad(path: str | Path) -> list[SquadExample]:
    """Read a file in the SQuAD v1.1 JSON layout into a flat list of examples."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)["data"]
    return list(_iter_examples(data))


def _iter_examples(data: Iterable[dict[str, Any]]) -> Iterator[SquadExample]:
    for article in data:
        title = article.get("title", "")
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                answers = tuple((a["text"], int(a["answer_start"])) for a in qa["answers"])
                yield SquadExample(qa["id"], title, qa["question"], context, answers)


def normalize_answer(text: str) -> str:
    """SQuAD normalization: lower-case, drop punctuation and articles, collapse white space."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str) -> float:
    """Token-level F1 between normalized strings, as in the official SQuAD script."""
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    common = Counter(pred_tokens) & Counter(gold_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(pred_tokens)
    recall = overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def best_score(prediction: str, golds: Iterable[str]) -> tuple[float, float]:
    """(EM, F1) of a prediction taken as the maximum over the gold answers."""
    golds = list(golds)
    if not golds:
        return 0.0, 0.0
    return (
        max(exact_match(prediction, g) for g in golds),
        max(f1_score(prediction, g) for g in golds),
    )
