"""Fit what kind of answer a question asks for, on SQuAD train (``qa.reading.answer_kind``).

    python -m qa.reading.answer_kind_fit --train ../shared/data/squad/train-v1.1.json \\
        [--out qa/weights/answer_kinds.json]

Each training question's label is the kind of its first gold span, typed by
``span_kind`` in its paragraph; the regression is chosen (its L2 strength) on a held-out
tenth of train's articles by log loss, then refitted on all of them. The words that a
capital letter alone does not make a name are read off the same paragraphs: those seen
mid-sentence in lower case far more often than capitalized.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from qa.reading.answer_kind import KINDS, KindModel, question_features, span_kind

log = logging.getLogger("qa.reading.answer_kind_fit")
ROOT = Path(__file__).resolve().parents[2]


def common_words(contexts: list[str], min_count: int = 3, ratio: float = 4.0) -> frozenset[str]:
    """Lower-case words seen mid-sentence in lower case at least ``ratio`` times as often as
    capitalized, and at least once capitalized at a sentence's start (the only place a
    capital letter misleads)."""
    lower: Counter[str] = Counter()
    capital_mid: Counter[str] = Counter()
    capital_start: Counter[str] = Counter()
    for text in contexts:
        for sentence in re.split(r"(?<=[.?!])\s+", text):
            words = re.findall(r"[A-Za-z]+", sentence)
            for i, w in enumerate(words):
                if w.islower():
                    lower[w] += 1
                elif w[0].isupper() and w[1:].islower():
                    (capital_start if i == 0 else capital_mid)[w.lower()] += 1
    return frozenset(
        w for w, n in lower.items() if n >= min_count and n >= ratio * capital_mid[w] and capital_start[w]
    )


def labelled(data: list[dict[str, Any]], common: frozenset[str]) -> list[tuple[str, str]]:
    out = []
    for article in data:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                answer = qa["answers"][0]
                start = int(answer["answer_start"])
                end = start + len(answer["text"])
                kind = span_kind(
                    answer["text"], context[max(0, start - 30) : start], context[end : end + 30], common
                )
                out.append((qa["question"], kind))
    return out


def matrix(rows: list[tuple[str, str]], vocabulary: dict[str, int]):  # type: ignore[no-untyped-def]
    from scipy.sparse import csr_matrix

    indptr, indices = [0], []
    for question, _ in rows:
        ids = sorted({vocabulary[f] for f in question_features(question) if f in vocabulary})
        indices += ids
        indptr.append(len(indices))
    x = csr_matrix((np.ones(len(indices)), indices, indptr), shape=(len(rows), len(vocabulary)))
    y = np.array([KINDS.index(k) for _, k in rows])
    return x, y


def main(argv: list[str] | None = None) -> int:
    from sklearn.linear_model import LogisticRegression

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", type=Path, default=ROOT.parent / "shared/data/squad/train-v1.1.json")
    parser.add_argument("--out", type=Path, default=ROOT / "qa" / "weights" / "answer_kinds.json")
    parser.add_argument("--min-count", type=int, default=20, help="a feature seen fewer times is left out")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    data = json.loads(args.train.read_text(encoding="utf-8"))["data"]
    common = common_words([p["context"] for a in data for p in a["paragraphs"]])
    log.info("%d common words", len(common))
    articles = sorted(data, key=lambda a: a["title"])
    random.Random(args.seed).shuffle(articles)
    held = len(articles) // 10
    fit_rows, held_rows = labelled(articles[held:], common), labelled(articles[:held], common)
    counts = Counter(k for _, k in fit_rows)
    log.info("kinds of the gold spans: %s", dict(counts.most_common()))
    seen = Counter(f for q, _ in fit_rows for f in set(question_features(q)))
    vocabulary = {f: i for i, f in enumerate(sorted(f for f, n in seen.items() if n >= args.min_count))}
    x_fit, y_fit = matrix(fit_rows, vocabulary)
    x_held, y_held = matrix(held_rows, vocabulary)
    best = None
    for c in (0.1, 0.3, 1.0, 3.0):
        model = LogisticRegression(C=c, max_iter=2000).fit(x_fit, y_fit)
        p = np.clip(model.predict_proba(x_held), 1e-9, 1)
        loss = -float(np.mean(np.log(p[np.arange(len(y_held)), y_held])))
        accuracy = float(np.mean(model.predict(x_held) == y_held))
        log.info("C=%.1f: held-out log loss %.4f, accuracy %.4f", c, loss, accuracy)
        if best is None or loss < best[0]:
            best = (loss, c, accuracy)
    assert best is not None
    everything = fit_rows + held_rows
    seen = Counter(f for q, _ in everything for f in set(question_features(q)))
    vocabulary = {f: i for i, f in enumerate(sorted(f for f, n in seen.items() if n >= args.min_count))}
    x, y = matrix(everything, vocabulary)
    model = LogisticRegression(C=best[1], max_iter=2000).fit(x, y)
    weights = np.zeros((len(vocabulary), len(KINDS)))
    bias = np.full(len(KINDS), -30.0)  # a kind no gold span has is never asked for
    weights[:, model.classes_] = model.coef_.T
    bias[model.classes_] = model.intercept_
    fitted = KindModel(vocabulary, weights, bias, common)
    args.out.write_text(
        fitted.to_json(
            fitted_on=f"{len(everything)} questions of {args.train.name} "
            "(label: the kind of the first gold span)",
            held_out=f"C={best[1]}: log loss {best[0]:.4f}, accuracy {best[2]:.4f} "
            "on a tenth of the articles",
            command="python -m qa.reading.answer_kind_fit",
        )
        + "\n"
    )
    log.info("wrote %s (%d features)", args.out, len(vocabulary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
