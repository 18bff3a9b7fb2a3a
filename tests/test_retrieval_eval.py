"""Retrieval on the shared dev questions (skipped where ../shared is absent)."""

from __future__ import annotations

import json

import pytest

from qa.engine import Engine
from qa.evaluation.evaluate import evaluate_questions
from tests.conftest import SHARED

DEV = SHARED / "eval" / "dev_qa.jsonl"


@pytest.mark.skipif(not DEV.exists(), reason="needs ../shared/eval/dev_qa.jsonl")
def test_hybrid_retrieval_beats_or_matches_each_retriever(seed_engine: Engine) -> None:
    rows = [json.loads(line) for line in DEV.read_text().splitlines() if line.strip()]
    report = evaluate_questions(seed_engine, rows, top_k=5, retrieval_only=True)
    assert report["hybrid_recall@5"] == 1.0
    assert report["hybrid_recall@1"] >= max(report["dense_recall@1"], report["lexical_recall@1"])
