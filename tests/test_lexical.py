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
