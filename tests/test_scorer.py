"""The answer scorer's fitting and calibration code, on data whose truth is known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa.reading.scorer import (
    FEATURES,
    AnswerScorer,
    best_threshold,
    calibration_table,
    expected_calibration_error,
    fit_logistic,
    platt,
)
from qa.settings import DEFAULT_SCORER


def _synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)) * [1.0, 5.0, 0.1] + [0.0, 10.0, 0.0]
    true_p = 1 / (1 + np.exp(-(0.5 + 1.5 * x[:, 0] - 0.4 * (x[:, 1] - 10))))
    return x, (rng.random(n) < true_p).astype(float), true_p


def test_logistic_fit_recovers_known_coefficients() -> None:
    x, y, _ = _synthetic(20000)
    mean, scale, coef, intercept = fit_logistic(x, y, l2=0.0)
    raw = coef / scale  # back to the unstandardized features
    assert raw[0] == pytest.approx(1.5, abs=0.1)
    assert raw[1] == pytest.approx(-0.4, abs=0.03)
    assert abs(raw[2]) < 0.5
    assert intercept - float(raw @ mean) == pytest.approx(0.5 + 0.4 * 10, abs=0.3)


def test_fitted_probabilities_are_calibrated_on_fresh_data() -> None:
    x, y, _ = _synthetic(20000)
    mean, scale, coef, intercept = fit_logistic(x, y)
    scorer = AnswerScorer(("a", "b", "c"), mean, scale, coef, intercept, 0.5)
    x2, y2, _ = _synthetic(20000, seed=1)
    assert expected_calibration_error(scorer.probability(x2), y2) < 0.02
    # A scorer that is sure of everything is not calibrated.
    assert expected_calibration_error(np.full(len(y2), 0.99), y2) > 0.3


def test_calibration_table_bins() -> None:
    predicted = np.array([0.05, 0.08, 0.55, 0.95, 1.0])
    observed = np.array([0.0, 1.0, 1.0, 1.0, 0.0])
    rows = calibration_table(predicted, observed)
    assert [r["bin"] for r in rows] == ["0.0-0.1", "0.5-0.6", "0.9-1.0"]
    assert [r["n"] for r in rows] == [2, 1, 2]
    assert rows[0]["predicted"] == pytest.approx(0.065) and rows[0]["observed"] == 0.5
    assert sum(r["n"] for r in rows) == len(predicted)


def test_threshold_maximizes_the_overall_score() -> None:
    best = np.array([0.9, 0.8, 0.3, 0.2, 0.1])
    f1 = np.array([1.0, 1.0, 1.0, 0.0, 0.0])
    answerable = np.array([True, True, True, False, False])
    tau, overall = best_threshold(best, f1, answerable)
    assert 0.2 < tau <= 0.3 and overall == 1.0
    # Nothing answerable: abstain on everything.
    tau, overall = best_threshold(best, f1, np.zeros(5, dtype=bool))
    assert tau > 0.9 and overall == 1.0


def test_shipped_scorer_loads_and_its_features_match_the_code(tmp_path: Path) -> None:
    scorer = AnswerScorer.load(DEFAULT_SCORER)
    assert scorer.names == FEATURES and 0 < scorer.threshold < 1
    probability = scorer.probability(np.zeros((4, len(FEATURES))))
    assert probability.shape == (4,) and np.all((probability >= 0) & (probability <= 1))
    stale = tmp_path / "stale.json"
    stale.write_text(scorer.to_json().replace('"log_span"', '"old_feature"'))
    with pytest.raises(ValueError, match="fitted on features"):
        AnswerScorer.load(stale)


def test_span_probability_scorer_orders_by_span_probability() -> None:
    scorer = AnswerScorer.by_span_probability()
    rows = np.zeros((2, len(FEATURES)))
    rows[:, FEATURES.index("log_span")] = np.log([0.2, 0.7])
    p = scorer.probability(rows)
    assert p[1] > p[0] and p[1] == pytest.approx(0.7 / 1.7)


def test_platt_scaling_repairs_an_overconfident_logit(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    true_logit = rng.normal(size=20000)
    y = (rng.random(len(true_logit)) < 1 / (1 + np.exp(-true_logit))).astype(float)
    overconfident = 3.0 * true_logit + 1.0
    slope, offset = platt(overconfident, y)
    assert slope == pytest.approx(1 / 3, abs=0.03) and offset == pytest.approx(-1 / 3, abs=0.06)
    scorer = AnswerScorer(("z",), np.zeros(1), np.ones(1), np.ones(1), 0.0, 0.4, slope, offset)
    x = overconfident.reshape(-1, 1)
    assert expected_calibration_error(scorer.probability(x), y) < 0.02
    saved = tmp_path / "scorer.json"
    saved.write_text(scorer.to_json())
    data = json.loads(saved.read_text())
    assert data["slope"] == pytest.approx(slope, abs=1e-6) and data["threshold"] == 0.4


def test_citation_floor_drops_other_stories_and_keeps_the_answers_own() -> None:
    from qa.evaluation.fit import fit_citation_floor

    rng = np.random.default_rng(0)
    inside = [[float(p), 1.0] for p in rng.uniform(0.3, 1.0, 400)]
    outside = [[float(p), 0.0] for p in rng.uniform(0.0, 0.3, 100)]
    floor = fit_citation_floor(inside + outside)
    assert 0.25 <= floor <= 0.35  # the gap between the two
    kept = np.mean([p >= floor for p, _ in inside])
    assert kept >= 0.95


def test_kind_floor_hides_answers_of_a_kind_nobody_asked_for() -> None:
    from qa.evaluation.fit import top_per_question

    data = {"answerable": [True], "question": [0, 0], "f1": [0.0, 1.0], "kind_p": [0.001, 0.6]}
    scores = np.array([0.9, 0.5])  # the wrong-kind answer scores higher
    assert top_per_question(scores, data)[1][0] == 0.0
    assert top_per_question(scores, data, kind_floor=0.01)[1][0] == 1.0


def test_balanced_weights_give_the_unanswerable_half_of_the_score() -> None:
    from qa.evaluation.fit import question_weights

    w = question_weights(["answerable"] * 4 + ["off_topic"] * 4 + ["on_topic"] * 2)
    assert w[:4].sum() == pytest.approx(w[4:].sum()) and w[4:8].sum() == pytest.approx(w[8:].sum())
