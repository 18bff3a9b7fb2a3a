"""The reader's lean forward over packed windows computes what transformers' forward does."""

from __future__ import annotations

import numpy as np
import pytest

from qa.reading.packed import PackedBert, rows_for
from qa.reading.reader import Reader
from qa.reading.spans import encode_windows, pad_batch
from qa.settings import DEFAULT_READER

QUESTION = "How many troops did Tajikistan mobilize?"
PASSAGES = [
    "Tajikistan mobilized 20,000 troops along its southern border.",
    "The ministry said on Tuesday that the exercise would last two weeks and that reservists "
    "from three regions had been called up, in the largest such drill since independence.",
    "Short.",
    " ".join(f"Sentence {i} of a long report about the border and its guards." for i in range(40)),
]


def transformers_logits(reader: Reader, windows: list) -> tuple[np.ndarray, np.ndarray]:
    """The model's own forward, windows padded to the longest."""
    import torch

    inputs = {k: torch.from_numpy(v) for k, v in pad_batch(windows).items() if k in reader.inputs}
    with torch.inference_mode():
        out = reader.model(**inputs)
    return out.start_logits.float().numpy(), out.end_logits.float().numpy()


@pytest.mark.parametrize(("precision", "tolerance"), [("fp32", 1e-3), ("bf16", 0.25)])
def test_packed_logits_match_the_model_on_ragged_windows(precision: str, tolerance: float) -> None:
    reader = Reader(DEFAULT_READER, precision=precision)
    assert reader.packed is not None
    windows = encode_windows(reader.tokenizer, [QUESTION] * len(PASSAGES), PASSAGES, 192, 64)
    windows.sort(key=lambda w: len(w.input_ids))
    lengths = [len(w.input_ids) for w in windows]
    assert len(set(lengths)) > 2 and lengths.count(192) >= 2  # ragged, and a run of full windows
    starts, ends = reader.packed.logits(windows)
    want_starts, want_ends = transformers_logits(reader, windows)
    for row, n in enumerate(lengths):
        assert np.abs(starts[row, :n] - want_starts[row, :n]).max() < tolerance
        assert np.abs(ends[row, :n] - want_ends[row, :n]).max() < tolerance
        assert (starts[row, n:] == -1e4).all() and (ends[row, n:] == -1e4).all()


def test_packed_and_transformers_readers_give_the_same_spans() -> None:
    packed = Reader(DEFAULT_READER, precision="fp32")
    plain = Reader(DEFAULT_READER, precision="fp32")
    plain.packed = None
    got, want = packed.read(QUESTION, PASSAGES), plain.read(QUESTION, PASSAGES)
    assert [(s.passage, s.start, s.end) for s in got] == [(s.passage, s.start, s.end) for s in want]
    assert got[0].text == "20,000"
    assert np.allclose([s.confidence for s in got], [s.confidence for s in want], atol=1e-3)


def test_row_counts_are_few_and_cover_every_call() -> None:
    counts = {rows_for(n) for n in range(1, 6145)}
    assert len(counts) <= 50
    assert all(rows_for(n) >= n and rows_for(n) - n < 256 for n in range(1, 6145))


def test_int8_and_other_architectures_keep_the_transformers_forward(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from transformers import DistilBertConfig, DistilBertForQuestionAnswering

    assert Reader(DEFAULT_READER, precision="int8").packed is None
    other = DistilBertForQuestionAnswering(
        DistilBertConfig(vocab_size=64, dim=32, hidden_dim=64, n_layers=1, n_heads=2)
    )
    assert not PackedBert.supports(other)


def test_warming_reads_every_row_count_a_question_may_need() -> None:
    reader = Reader(DEFAULT_READER, precision="fp32")
    assert reader.packed is not None
    seen: list[int] = []
    lean = reader.packed.logits

    def counting(windows):  # type: ignore[no-untyped-def]
        seen.append(rows_for(sum(len(w.input_ids) for w in windows)))
        return lean(windows)

    reader.packed.logits = counting  # type: ignore[method-assign]
    assert reader.warm(up_to=512) == len(seen) == 8
    assert sorted(seen) == list(range(64, 513, 64))
