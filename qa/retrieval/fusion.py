"""Fusion of the dense and lexical result lists into one ranking.

Two rules, chosen by the ``fusion`` setting and measured side by side on SQuAD-derived
open-book episodes (``qa eval open-squad``):

- ``rrf``: reciprocal rank fusion, score(id) = sum_i w_i / (k + rank_i(id));
- ``convex``: a convex combination of each list's scores, min-max normalized over its
  candidates (an id missing from a list gets that list's 0).
"""

from __future__ import annotations

from collections.abc import Sequence

FUSIONS = ("rrf", "convex")

Ranked = Sequence[tuple[int, float]]  # (id, retriever score), best first


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], weights: Sequence[float] | None = None, k: int = 60
) -> list[tuple[int, float]]:
    """Fuse ranked id lists: score(id) = sum_i w_i / (k + rank_i(id)), rank from 1.

    Returns (id, score) best first, scores scaled to [0, 1] by the best possible score
    (first in every list). Ties keep the order in which ids were first seen.
    """
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    best = sum(weights) / (k + 1) or 1.0
    fused = sorted(scores.items(), key=lambda kv: -kv[1])
    return [(item, score / best) for item, score in fused]


def convex_combination(
    lists: Sequence[Ranked], weights: Sequence[float] | None = None
) -> list[tuple[int, float]]:
    """score(id) = sum_i w_i * norm_i(id) / sum_i w_i, where norm_i min-max scales list i's
    scores to [0, 1] (all equal: 1). Returns (id, score) best first, in [0, 1]; ties keep
    the order in which ids were first seen."""
    weights = list(weights) if weights is not None else [1.0] * len(lists)
    if len(weights) != len(lists):
        raise ValueError("one weight per list")
    total = sum(weights) or 1.0
    scores: dict[int, float] = {}
    for ranked, weight in zip(lists, weights, strict=True):
        if not ranked:
            continue
        values = [s for _, s in ranked]
        lo, hi = min(values), max(values)
        for item, s in ranked:
            norm = (s - lo) / (hi - lo) if hi > lo else 1.0
            scores[item] = scores.get(item, 0.0) + weight * norm / total
    return sorted(scores.items(), key=lambda kv: -kv[1])


def fuse(
    method: str, lists: Sequence[Ranked], weights: Sequence[float], rrf_k: int = 60
) -> list[tuple[int, float]]:
    if method == "rrf":
        return reciprocal_rank_fusion([[i for i, _ in ranked] for ranked in lists], weights, rrf_k)
    if method == "convex":
        return convex_combination(lists, weights)
    raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}")
