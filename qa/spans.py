"""Question/passage windows for a span reader, and the token <-> character mapping.

Pure functions over tokenizer output and logit arrays; nothing here holds a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Window:
    """One tokenized window of a passage, paired with its question."""

    passage: int  # index of the passage in the batch it came from
    input_ids: list[int]
    token_type_ids: list[int]
    # Character span (start, end) in the passage for each context token, None elsewhere.
    offsets: list[tuple[int, int] | None]


def encode_windows(
    tokenizer: Any,
    questions: Sequence[str],
    passages: Sequence[str],
    max_length: int,
    stride: int,
) -> list[Window]:
    """Tokenize question/passage pairs; passages longer than the window overflow with a stride."""
    enc = tokenizer(
        list(questions),
        list(passages),
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=False,
    )
    windows = []
    for i, input_ids in enumerate(enc["input_ids"]):
        sequence_ids = enc.sequence_ids(i)
        offsets = [
            (int(span[0]), int(span[1])) if seq == 1 else None
            for span, seq in zip(enc["offset_mapping"][i], sequence_ids, strict=True)
        ]
        windows.append(
            Window(
                passage=int(enc["overflow_to_sample_mapping"][i]),
                input_ids=list(input_ids),
                token_type_ids=list(enc["token_type_ids"][i]),
                offsets=offsets,
            )
        )
    return windows


def answer_token_span(window: Window, char_start: int, char_end: int) -> tuple[int, int]:
    """Token positions (start, end inclusive) of a character span, or (0, 0) when the
    window does not hold the whole span (position 0 is the [CLS] "no answer" slot)."""
    start = end = None
    for pos, span in enumerate(window.offsets):
        if span is None:
            continue
        if start is None and span[0] <= char_start < max(span[1], span[0] + 1):
            start = pos
        if span[0] < char_end <= span[1]:
            end = pos
    context = [p for p, s in enumerate(window.offsets) if s is not None]
    if start is None or end is None or not context or end < start:
        return 0, 0
    return start, end


def pad_batch(windows: Sequence[Window], pad_id: int = 0) -> dict[str, np.ndarray]:
    """Pad a batch of windows to its longest member (dynamic padding)."""
    width = max(len(w.input_ids) for w in windows)
    ids = np.full((len(windows), width), pad_id, dtype=np.int64)
    types = np.zeros((len(windows), width), dtype=np.int64)
    mask = np.zeros((len(windows), width), dtype=np.int64)
    for row, w in enumerate(windows):
        n = len(w.input_ids)
        ids[row, :n] = w.input_ids
        types[row, :n] = w.token_type_ids
        mask[row, :n] = 1
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}


@dataclass(frozen=True)
class SpanCandidate:
    window: int
    start_token: int
    end_token: int
    char_start: int  # offsets into the window's passage
    char_end: int
    score: float  # start logit + end logit
    null_score: float  # the window's [CLS] start + end logits


def best_spans(
    windows: Sequence[Window],
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    max_answer_tokens: int = 30,
    per_window: int = 3,
    n_best: int = 20,
) -> list[SpanCandidate]:
    """The best-scoring valid spans of each window (start <= end, both inside the passage,
    at most ``max_answer_tokens`` long), mapped to character offsets of the passage."""
    out: list[SpanCandidate] = []
    for w_index, window in enumerate(windows):
        starts = np.asarray(start_logits[w_index][: len(window.input_ids)], dtype=np.float32)
        ends = np.asarray(end_logits[w_index][: len(window.input_ids)], dtype=np.float32)
        valid = np.array([o is not None for o in window.offsets])
        if not valid.any():
            continue
        null = float(starts[0] + ends[0])
        s_idx = [int(i) for i in np.argsort(-np.where(valid, starts, -np.inf))[:n_best] if valid[i]]
        e_idx = [int(i) for i in np.argsort(-np.where(valid, ends, -np.inf))[:n_best] if valid[i]]
        found = []
        for s in s_idx:
            for e in e_idx:
                if s <= e < s + max_answer_tokens:
                    found.append((float(starts[s] + ends[e]), s, e))
        found.sort(reverse=True)
        for score, s, e in found[:per_window]:
            first, last = window.offsets[s], window.offsets[e]
            assert first is not None and last is not None
            out.append(SpanCandidate(w_index, s, e, first[0], last[1], score, null))
    return out
