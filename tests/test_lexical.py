"""BM25 ranking helpers."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from index.lexical import _top_k


@given(
    st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.25]), min_size=0, max_size=60),
    st.integers(min_value=1, max_value=70),
)
def test_partial_top_k_is_the_full_stable_sort(scores: list[float], k: int) -> None:
    """Ties (common in BM25) and zeros included: the same rows, in the same order."""
    array = np.array(scores, dtype=np.float32)
    full = np.argsort(-array, kind="stable")[:k]
    full = full[array[full] > 0]
    assert _top_k(array, k).tolist() == full.tolist()


TEXTS = [
    "The border crossing at Khorog reopened to trucks on Monday after the floods.",
    "Tajikistan mobilized twenty thousand reservists along the Afghan border.",
    "The ferry to the island resumed service on Sunday, the harbour authority said.",
    "Officials said the border guards counted more than one thousand soldiers.",
    "Trucks queued at the border for two days before the crossing reopened.",
]


def test_a_pending_passage_scores_as_it_would_in_the_main_index() -> None:
    from index.lexical import LexicalIndex

    index = LexicalIndex()
    index.build(np.arange(len(TEXTS)), TEXTS)
    query = "when did the border crossing reopen to trucks"
    main_scores, main_ids = index.search(query, 5)
    # Move passage 0 from the main index to the pending list; the statistics stay those of
    # the main index, which still counts it, so its score must not change.
    index.remove(np.array([0]))
    index.add(np.array([0]), [TEXTS[0]])
    assert index.pending == 1 and len(index) == len(TEXTS)
    scores, ids = index.search(query, 5)
    assert ids.tolist() == main_ids.tolist()
    np.testing.assert_allclose(scores, main_scores, rtol=1e-5)


def test_pending_passages_are_filtered_and_removed() -> None:
    from index.lexical import LexicalIndex

    index = LexicalIndex()
    index.build(np.arange(3), TEXTS[:3])
    index.add(np.array([10, 11]), TEXTS[3:])
    assert set(index.search("border crossing trucks", 5)[1].tolist()) >= {10, 11}
    assert index.search("border crossing trucks", 5, allowed=np.array([11]))[1].tolist() == [11]
    index.remove(np.array([11]))
    assert 11 not in index.search("border crossing trucks", 5)[1].tolist()
    assert sorted(index.ids().tolist()) == [0, 1, 2, 10]
