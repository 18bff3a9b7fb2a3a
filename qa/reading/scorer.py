"""The answer score: a calibrated probability that an answer is right.

A logistic regression over features measured for each candidate answer (the reader's span
and no-answer probabilities, where retrieval ranked its passages, how much of the question
those passages mention, how many passages and documents agree, ...). It is fitted on
episodes built from SQuAD *train* (``python -m qa.evaluation.fit``) and shipped as a few
numbers in ``qa/weights/answer_scorer.json``, with the abstention threshold chosen on the
same episodes. Nothing in it was chosen by looking at the seed questions.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa.reading.answer_kind import kind_log_probability
from qa.reading.kinds import kind_fit
from qa.reading.squad import normalize_answer

FALLBACK_THRESHOLD = 0.4  # AnswerScorer.fallback: p / (1 + p) >= 0.4, i.e. p >= 2/3

# The order of the feature vector; a scorer file names the features it was fitted on.
FEATURES = (
    "log_span",  # log of the best citation's span probability (its window's softmax)
    "null",  # the reader's "no answer" probability in that window
    "log_mass",  # log of the summed span probability over every citation
    "margin",  # best span probability minus that of the best competing answer
    "rank",  # 1 / (1 + best retrieval rank among the citations' passages); 0: corroboration only
    "retrieval",  # best fused retrieval score among those passages
    "coverage",  # best IDF-weighted share of the question's terms those passages mention
    "proximity",  # best share of the question's word pairs that stand together in them
    "log_passages",  # log of the number of passages that state the answer
    "log_docs",  # log of the number of sources that state it (copies of one text are one)
    "in_question",  # share of the answer's words that the question already contains
    "log_words",  # log(1 + words in the answer)
    "dense",  # best cosine between the question and the citations' passages (MiniLM)
    "top_dense",  # best cosine between the question and any passage retrieval ranked
    "top_coverage",  # best coverage of the question by any passage retrieval ranked
    # Shared normalization over every passage read for the question (comparable across them):
    "log_shared",  # log of the best citation's span probability among all spans of all passages
    "log_shared_mass",  # log of the summed shared probability over every citation
    "shared_gap",  # log_shared minus the log of the best other answer's in another passage
    # The answer's kind against what the question asks (qa.reading.kinds): +1 fits, -1 not, 0 not asked
    "number_fit",
    "date_fit",
    "name_fit",
    "place_fit",
    "typed_words",  # log(1 + words) when the question asks a number or a date: the minimal span
    # The answer's fine kind (qa.reading.answer_kind) against the learned kinds the question asks:
    "kind_log_p",  # log P(the span's kind | the question)
    "kind_top",  # 1 when the span's kind is the one the question most likely asks for
    "missing",  # least, over the citations' passages, of the rarest question term's absence
)


# Products of these features (every pair, squares included) enter the regression too: the
# reader's confidence means more from the top-ranked passage than from the fifth, and a
# margin over the runner-up more when the question is on topic. On the SQuAD-train episodes
# they lifted held-out overall score by 1.5 points (2-fold, one book against the other).
INTERACTING = (
    "log_span",
    "rank",
    "margin",
    "log_mass",
    "top_dense",
    "coverage",
    "null",
    "log_shared",
    "shared_gap",
    "kind_log_p",
    "missing",
)
INTERACTIONS = tuple((a, b) for i, a in enumerate(INTERACTING) for b in INTERACTING[i:])


def kind_probability(x: np.ndarray) -> np.ndarray:
    """P(each candidate's kind | the question), read back from feature rows ``x``
    (``kind_log_p``; 1 where no kind model was used, floored at 1e-4)."""
    return np.exp(np.asarray(x, dtype=np.float64)[..., FEATURES.index("kind_log_p")])


def design(x: np.ndarray, interactions: Sequence[tuple[str, str]] = INTERACTIONS) -> np.ndarray:
    """Feature rows (``FEATURES`` order) with the products of ``interactions`` appended."""
    x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(-1, x.shape[-1])
    column = {name: k for k, name in enumerate(FEATURES)}
    products = [flat[:, column[a]] * flat[:, column[b]] for a, b in interactions]
    out = np.hstack([flat, np.array(products).T]) if products else flat
    return out.reshape(*x.shape[:-1], out.shape[-1])


@dataclass(frozen=True)
class Evidence:
    """What one citation of a candidate answer brings."""

    doc_id: str
    probability: float  # the reader's span probability
    null: float  # the reader's no-answer probability in the span's window
    rank: int | None  # 0-based rank of the passage in retrieval; None: read to corroborate
    retrieval: float  # the passage's fused retrieval score
    coverage: float
    proximity: float
    dense: float  # cosine between the question and the passage
    missing: float = 0.0  # the rarest question term's absence from the passage (0-1)
    shared: float = 0.0  # the span's probability under the question's shared normalization
    passage: tuple[str, int] = ("", 0)  # (doc_id, paragraph) of the passage read
    source: str = ""  # the document standing for its source (``qa.retrieval.copies``): copies share one


@dataclass(frozen=True)
class QuestionContext:
    """What retrieval found for the question as a whole."""

    question: str
    top_dense: float
    top_coverage: float
    asks: frozenset[str] = frozenset()  # the kinds of answer it asks for (qa.reading.kinds)
    # P(kind | question) over qa.reading.answer_kind.KINDS; empty: no kind model
    kind_p: Mapping[str, float] = field(default_factory=dict)
    common: frozenset[str] = frozenset()  # words a capital letter alone does not make a name


def features(
    evidence: Sequence[Evidence],
    answer: str,
    context: QuestionContext,
    competitor: float,
    rival_shared: float = 0.0,
    kind: str = "other",
) -> np.ndarray:
    """The feature vector (``FEATURES`` order) of an answer stated by ``evidence``;
    ``competitor`` is the best span probability of any other answer to the question,
    ``rival_shared`` the best shared probability of another answer in another passage,
    ``kind`` the answer's kind (``qa.reading.answer_kind.span_kind``)."""
    best = max(evidence, key=lambda e: e.probability)
    log_shared = math.log(max(max(e.shared for e in evidence), 1e-6))
    typed = "number" in context.asks or "date" in context.asks
    ranks = [e.rank for e in evidence if e.rank is not None]
    words = normalize_answer(answer).split()
    asked = set(normalize_answer(context.question).split())
    return np.array(
        [
            math.log(max(best.probability, 1e-6)),
            best.null,
            math.log(max(sum(e.probability for e in evidence), 1e-6)),
            best.probability - competitor,
            1.0 / (1 + min(ranks)) if ranks else 0.0,
            max(e.retrieval for e in evidence),
            max(e.coverage for e in evidence),
            max(e.proximity for e in evidence),
            math.log(len(evidence)),
            math.log(len({e.source or e.doc_id for e in evidence})),  # copies count once
            sum(w in asked for w in words) / len(words) if words else 1.0,
            math.log1p(len(words)),
            max(e.dense for e in evidence),
            context.top_dense,
            context.top_coverage,
            log_shared,
            math.log(max(sum(e.shared for e in evidence), 1e-6)),
            log_shared - math.log(max(rival_shared, 1e-6)),
            *kind_fit(context.asks, answer),
            math.log1p(len(words)) if typed else 0.0,
            kind_log_probability(context.kind_p, kind),
            float(bool(context.kind_p) and kind == max(context.kind_p, key=context.kind_p.__getitem__)),
            min(e.missing for e in evidence),
        ],
        dtype=np.float64,
    )


@dataclass(frozen=True)
class AnswerScorer:
    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float  # abstain when the best answer's probability is under this
    # Recalibration of the logit on each question's top answer (Platt scaling): the
    # regression is fitted on every candidate, and the top answers are the ones shown.
    slope: float = 1.0
    offset: float = 0.0
    interactions: tuple[tuple[str, str], ...] = ()
    # An answer whose kind the question asks for with a probability under this is not shown.
    kind_floor: float = 0.0
    # A passage is cited for an answer only where the reader gives it this span probability.
    citation_floor: float = 0.0

    def logit(self, x: np.ndarray) -> np.ndarray:
        """The regression's logit for feature rows ``x`` (``FEATURES`` order)."""
        z = design(x, self.interactions)
        return np.asarray((z - self.mean) / self.scale @ self.coef + self.intercept)

    def probability(self, x: np.ndarray) -> np.ndarray:
        """P(right) for feature rows ``x`` (shape (n, len(names)) or (len(names),))."""
        z = self.slope * self.logit(x) + self.offset
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -30, 30))))

    @classmethod
    def by_span_probability(cls) -> AnswerScorer:
        """An unfitted scorer that orders answers by the reader's span probability alone
        (p / (1 + p)); used to collect the episodes a scorer is fitted on."""
        n = len(FEATURES)
        coef = np.zeros(n)
        coef[FEATURES.index("log_span")] = 1.0
        return cls(FEATURES, np.zeros(n), np.ones(n), coef, 0.0, 0.0)

    @classmethod
    def fallback(cls) -> AnswerScorer:
        """For a reader no scorer was fitted for (not trained here, no ``qa fit --reader``):
        the span probability p alone, as p / (1 + p), shown from 0.4 (p >= 2/3). Not
        calibrated: a score of 0.45 does not mean right 45 times in 100."""
        return dataclasses.replace(cls.by_span_probability(), threshold=FALLBACK_THRESHOLD)

    @classmethod
    def load(cls, path: Path) -> AnswerScorer:
        data = json.loads(Path(path).read_text())
        names = tuple(data["features"])
        if names != FEATURES[: len(names)]:
            raise ValueError(f"{path} was fitted on features {names}, this code computes {FEATURES}")
        # A scorer fitted before features were appended gives them no weight until refitted.
        extra = len(FEATURES) - len(names)
        n_base = len(data["coef"]) - len(data.get("interactions", []))

        def widen(values: list[Any], fill: float) -> np.ndarray:
            v = np.array(values, dtype=np.float64)
            return np.concatenate([v[:n_base], np.full(extra, fill), v[n_base:]])

        return cls(
            names=FEATURES,
            mean=widen(data["mean"], 0.0),
            scale=widen(data["scale"], 1.0),
            coef=widen(data["coef"], 0.0),
            intercept=float(data["intercept"]),
            threshold=float(data["threshold"]),
            slope=float(data.get("slope", 1.0)),
            offset=float(data.get("offset", 0.0)),
            interactions=tuple((str(a), str(b)) for a, b in data.get("interactions", [])),
            kind_floor=float(data.get("kind_floor", 0.0)),
            citation_floor=float(data.get("citation_floor", 0.0)),
        )

    def to_json(self, **provenance: object) -> str:
        return json.dumps(
            {
                "features": list(self.names),
                "mean": [round(float(v), 6) for v in self.mean],
                "scale": [round(float(v), 6) for v in self.scale],
                "coef": [round(float(v), 6) for v in self.coef],
                "intercept": round(self.intercept, 6),
                "threshold": round(self.threshold, 4),
                "slope": round(self.slope, 6),
                "offset": round(self.offset, 6),
                "interactions": [list(pair) for pair in self.interactions],
                "kind_floor": round(self.kind_floor, 6),
                "citation_floor": round(self.citation_floor, 6),
                **provenance,
            },
            indent=2,
        )


def fit_logistic(
    x: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 50
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """L2-regularized logistic regression by Newton's method on standardized features.
    ``y`` may be soft (in [0, 1]). Returns (mean, scale, coef, intercept)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0  # the intercept is not shrunk
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -30, 30)))
        gradient = z.T @ (p - y) + penalty * w
        hessian = (z * (p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return mean, scale, w[:-1], float(w[-1])


def platt(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope, offset) so that sigmoid(slope * logit + offset) fits ``y``."""
    mean, scale, coef, intercept = fit_logistic(np.asarray(logits).reshape(-1, 1), y, l2=0.0)
    slope = float(coef[0] / scale[0])
    return slope, float(intercept - slope * mean[0])


def calibration_table(predicted: np.ndarray, observed: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """Predicted against observed accuracy in ``bins`` equal-width bins of [0, 1]; empty bins
    are left out."""
    predicted, observed = np.asarray(predicted, dtype=np.float64), np.asarray(observed, dtype=np.float64)
    index = np.minimum((predicted * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        members = index == b
        if members.any():
            rows.append(
                {
                    "bin": f"{b / bins:.1f}-{(b + 1) / bins:.1f}",
                    "n": int(members.sum()),
                    "predicted": float(predicted[members].mean()),
                    "observed": float(observed[members].mean()),
                }
            )
    return rows


def calibration_lines(predicted: np.ndarray, observed: np.ndarray, bins: int = 10) -> list[str]:
    """``calibration_table`` as printable lines."""
    return [
        f"  {r['bin']}  n={r['n']:5d}  predicted {r['predicted']:.3f}  observed {r['observed']:.3f}"
        for r in calibration_table(predicted, observed, bins)
    ]


def expected_calibration_error(predicted: np.ndarray, observed: np.ndarray, bins: int = 10) -> float:
    """Mean |predicted - observed| over the bins, weighted by their size."""
    rows = calibration_table(predicted, observed, bins)
    total = sum(r["n"] for r in rows)
    return float(sum(r["n"] * abs(r["predicted"] - r["observed"]) for r in rows) / max(1, total))


def best_threshold(
    best: np.ndarray, f1: np.ndarray, answerable: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, float]:
    """The abstention threshold that maximizes the overall score of a set of questions:
    a question with an answer in the corpus scores the F1 of its top answer (0 when
    abstained), one without scores 1 when abstained. ``best``: each question's top answer
    probability (0 when it has none); ``weights``: each question's weight in the overall
    score (default: equal). Returns (threshold, overall score)."""
    best, f1 = np.asarray(best, dtype=np.float64), np.asarray(f1, dtype=np.float64)
    answerable = np.asarray(answerable, dtype=bool)
    w = np.ones(len(best)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    candidates = np.unique(np.concatenate([[0.0, 1.0], best]))
    top_score, top_tau = -1.0, 0.5
    for tau in candidates:
        answered = best >= tau
        score = float(
            (np.where(answerable, np.where(answered, f1, 0.0), np.where(answered, 0.0, 1.0)) * w).sum()
        )
        if score > top_score + 1e-12:
            top_score, top_tau = float(score), float(tau)
    return top_tau, top_score
