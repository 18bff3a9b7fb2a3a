"""BM25 ranking helpers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from index.local.bm25 import LexicalIndex, _top_k


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


def test_a_pending_passage_scores_as_it_would_after_a_rebuild() -> None:
    from index.local.bm25 import LexicalIndex

    query = "when did the border crossing reopen to trucks"
    rebuilt = LexicalIndex()
    rebuilt.build(np.arange(len(TEXTS)), TEXTS)
    expected = dict(zip(*reversed(rebuilt.search(query, 5)), strict=True))
    incremental = LexicalIndex()
    incremental.build(np.arange(1, len(TEXTS)), TEXTS[1:])
    incremental.add(np.array([0]), [TEXTS[0]])  # scored with main + pending statistics
    assert incremental.pending == 1 and len(incremental) == len(TEXTS)
    got = dict(zip(*reversed(incremental.search(query, 5)), strict=True))
    assert got[0] == pytest.approx(expected[0], rel=1e-5)


def test_a_first_build_is_folded_into_the_main_index() -> None:
    from index.local.bm25 import LexicalIndex

    index = LexicalIndex()
    index.build(np.zeros(0, dtype=np.int64), [])
    index.add(np.arange(3), TEXTS[:3])
    assert index.needs_rebuild()  # everything is pending: rebuild rather than score it all live
    index.build(np.arange(3), TEXTS[:3])
    index.add(np.array([3]), [TEXTS[3]])
    assert not index.needs_rebuild()


def test_pending_passages_are_filtered_and_removed() -> None:
    from index.local.bm25 import LexicalIndex

    index = LexicalIndex()
    index.build(np.arange(3), TEXTS[:3])
    index.add(np.array([10, 11]), TEXTS[3:])
    assert set(index.search("border crossing trucks", 5)[1].tolist()) >= {10, 11}
    assert index.search("border crossing trucks", 5, allowed=np.array([11]))[1].tolist() == [11]
    index.remove(np.array([11]))
    assert 11 not in index.search("border crossing trucks", 5)[1].tolist()
    assert sorted(index.ids().tolist()) == [0, 1, 2, 10]


def test_index_builds_say_nothing_below_warning(caplog) -> None:  # type: ignore[no-untyped-def]
    """`DEBUG bm25s Building index` used to reach the console of `qa serve` and the tools."""
    import logging

    with caplog.at_level(logging.DEBUG):
        index = LexicalIndex()
        index.build(np.array([1, 2], dtype=np.int64), ["ferry service resumed", "troops crossed the border"])
    assert not [r for r in caplog.records if r.name.startswith("bm25s") and r.levelno < logging.WARNING]
