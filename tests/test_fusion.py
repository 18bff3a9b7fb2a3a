from __future__ import annotations

import pytest

from qa.retrieval.fusion import reciprocal_rank_fusion
from qa.retrieval.proximity import proximity_score, query_pairs


def test_rrf_prefers_items_ranked_high_by_both() -> None:
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1, 4]], k=60)
    ids = [i for i, _ in fused]
    assert ids[0] == 1 and set(ids) == {1, 2, 3, 4}
    scores = [s for _, s in fused]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < s <= 1 for s in scores)


def test_rrf_first_everywhere_scores_one_and_weights_matter() -> None:
    assert reciprocal_rank_fusion([[7, 8], [7, 9]])[0] == (7, pytest.approx(1.0))
    lexical_heavy = reciprocal_rank_fusion([[1, 2], [2, 1]], weights=[0.5, 1.0])
    assert lexical_heavy[0][0] == 2
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([[1]], weights=[1.0, 2.0])


def test_proximity_joins_demonyms_and_needs_closeness() -> None:
    pairs = query_pairs("Who is the president of Afghanistan?")
    assert proximity_score(pairs, "An adviser to Afghan President Ashraf Ghani said on July 5") == 1.0
    far = "Tajik President Emomali Rahmon ordered reserve officers to the long and porous Afghan border."
    assert proximity_score(pairs, far) == 0.0
    assert proximity_score(set(), "anything") == 0.0
