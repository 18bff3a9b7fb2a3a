"""Question/passage windows for a span reader, and the token <-> character mapping.

Pure functions over tokenizer output and logit arrays; nothing here holds a model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qa.reading.squad import normalize_answer


@dataclass(frozen=True)
class Window:
    """One tokenized window of a passage, paired with its question."""

    passage: int  # index of the passage in the batch it came from
    input_ids: list[int]
    token_type_ids: list[int]
    # Character span (start, end) in the passage for each context token, None elsewhere.
    offsets: list[tuple[int, int] | None]


MAX_QUESTION_TOKENS = 64  # as in the SQuAD recipes; a longer question keeps its first 64


def clip_question(tokenizer: Any, question: str, max_tokens: int = MAX_QUESTION_TOKENS) -> str:
    """The question cut after its ``max_tokens``-th token, so that any question leaves room
    for the passage in a window (a 700-character question used to fill it)."""
    enc = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
    offsets = enc["offset_mapping"]
    return question if len(offsets) <= max_tokens else question[: offsets[max_tokens - 1][1]]


def encode_windows(
    tokenizer: Any,
    questions: Sequence[str],
    passages: Sequence[str],
    max_length: int,
    stride: int,
) -> list[Window]:
    """Tokenize question/passage pairs; passages longer than the window overflow with a stride.
    Questions are clipped to ``MAX_QUESTION_TOKENS``."""
    clipped = {q: clip_question(tokenizer, q) for q in set(questions)}
    enc = tokenizer(
        [clipped[q] for q in questions],
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
                # A tokenizer without segment ids (RoBERTa's, DistilBERT's) gives none: zeros.
                token_type_ids=list(enc["token_type_ids"][i])
                if "token_type_ids" in enc
                else [0] * len(input_ids),
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


def pad_batch(windows: Sequence[Window], pad_id: int = 0, multiple: int = 1) -> dict[str, np.ndarray]:
    """Pad a batch of windows to its longest member (dynamic padding), rounded up to a
    ``multiple`` of tokens."""
    width = -(-max(len(w.input_ids) for w in windows) // multiple) * multiple
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
    probability: float  # P(start) * P(end), softmax over the window's [CLS] and passage tokens
    null_probability: float  # P(start=[CLS]) * P(end=[CLS]): "no answer in this window"
    logit: float = 0.0  # raw start + end logit: comparable across windows (see shared_log_z)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max()
    return np.asarray(shifted - np.log(np.exp(shifted).sum()), dtype=np.float64)


def _word_bounded(text: str, start: int, end: int) -> bool:
    """A span must not start or end inside a word ("hovar" of "Khovar", "1,03" of "1,030")."""
    return (start == 0 or not text[start - 1].isalnum()) and (end >= len(text) or not text[end].isalnum())


# Words after which a full stop does not end a sentence ("Mr. Smith", "Marbury v. Madison").
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "ms",
        "mrs",
        "dr",
        "st",
        "jr",
        "sr",
        "fr",
        "no",
        "vs",
        "v",
        "co",
        "lt",
        "mt",
        "ft",
        "gen",
        "col",
        "sgt",
        "rep",
        "sen",
        "gov",
        "inc",
        "ltd",
        "corp",
        "bros",
        "ave",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "prof",
        "rev",
        "etc",
        "approx",
        "est",
        "op",
        "vol",
        "fig",
        "e",
        "i",
    ]
)
_SENTENCE_BREAK = re.compile(r"([A-Za-z0-9]+)[.!?][\"'\u201d\u2019)]*\s+[\"'\u201c\u2018(]?[A-Z]")


def crosses_sentences(span: str) -> bool:
    """The span runs from one sentence into the next ("... and even removal. Fifty-one
    percent"). Of SQuAD train's 87,599 gold answers 118 (0.13%) look so, most of them
    abbreviations this leaves alone ("Fr. Zahm", "Wayman v. Southard")."""
    for m in _SENTENCE_BREAK.finditer(span):
        word = m.group(1)
        if word.lower() not in _ABBREVIATIONS and not (len(word) == 1 and word.isupper()):
            return True
    return False


# A question's own interrogative phrase is never its answer ("how many" read where a passage
# says "it is not clear how many have converted").
_INTERROGATIVES = frozenset(
    {"how", "what", "which", "who", "whom", "whose", "when", "where", "why", "whether"}
)
_WORD = re.compile(r"[^\W\d_]+")
_CHOICE = re.compile(r"\bor\b", re.IGNORECASE)
_POSSESSIVE = re.compile(r"['\u2019]s?\b")


def asks_back(span: str, before: str = "") -> bool:
    """The span is an interrogative phrase ("how many", "which", "whose"), or the end of one
    (``before`` is the passage's text before it: "many" after "how"), not an answer. Of
    SQuAD train's 87,599 gold answers none is; "WHO" (the organization, three of them) keeps
    its capitals and is left alone."""
    if span.isupper():
        return False
    words = _WORD.findall(span.lower())
    if not words or not all(w in _INTERROGATIVES or w in ("many", "much") for w in words):
        return False
    previous = _WORD.findall(before[-12:].lower())  # the callers pass the last few characters
    return words[0] in _INTERROGATIVES or (previous[-1:] == ["how"] and before[-1:].isspace())


def named_in(question: str) -> str | None:
    """The question's words as ``repeats`` looks spans up in them (normalized once per
    question, not per span); None for a choice question, whose answer it names. A question
    names what it asks about, not its answer ("James Van Der Beek" for "Who was James Van Der
    Beek's dance partner?"); of SQuAD train's 87,599 gold answers 184 (0.21%) repeat theirs."""
    if not question or _CHOICE.search(question):
        return None
    return f" {normalize_answer(_POSSESSIVE.sub('', question))} "


def repeats(span: str, named: str | None) -> bool:
    """Whether ``span`` is a phrase of the question words ``named`` (``named_in``)."""
    if named is None:
        return False
    said = normalize_answer(span)
    return bool(said) and f" {said} " in named


def best_spans(
    windows: Sequence[Window],
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    texts: Sequence[str],
    max_answer_tokens: int = 30,
    per_window: int = 3,
    n_best: int = 20,
    questions: Sequence[str] | None = None,
) -> list[SpanCandidate]:
    """The most probable valid spans of each window (start <= end, inside the passage,
    word-bounded, at most ``max_answer_tokens`` long, not an echo of the question
    ``questions[window.passage]`` where given) with character offsets into the passage
    ``texts[window.passage]``.

    Probabilities come from a softmax over the window's [CLS] slot and passage tokens, so a
    window the model thinks holds no answer gives all its spans little mass.
    """
    out: list[SpanCandidate] = []
    named: dict[str, str | None] = {}  # each question's words, normalized once (``named_in``)
    for w_index, window in enumerate(windows):
        n = len(window.input_ids)
        valid = np.array([o is not None for o in window.offsets])
        if not valid.any():
            continue
        allowed = valid.copy()
        allowed[0] = True  # [CLS]
        log_start = np.full(n, -np.inf)
        log_end = np.full(n, -np.inf)
        log_start[allowed] = _log_softmax(np.asarray(start_logits[w_index][:n], dtype=np.float64)[allowed])
        log_end[allowed] = _log_softmax(np.asarray(end_logits[w_index][:n], dtype=np.float64)[allowed])
        null = float(np.exp(log_start[0] + log_end[0]))
        scored_starts = np.where(valid, log_start, -np.inf)
        scored_ends = np.where(valid, log_end, -np.inf)
        s_idx = [int(i) for i in np.argsort(-scored_starts)[:n_best] if valid[i]]
        e_idx = [int(i) for i in np.argsort(-scored_ends)[:n_best] if valid[i]]
        text = texts[window.passage]
        asked = None
        if questions is not None:
            question = questions[window.passage]
            if question not in named:
                named[question] = named_in(question)
            asked = named[question]
        # The (start, end) pairs in order of probability (ties: later start, then later end
        # first); the text checks run only until ``per_window`` spans have passed them.
        starts = np.array(s_idx, dtype=np.int64)[:, None]
        ends = np.array(e_idx, dtype=np.int64)[None, :]
        log_p = log_start[starts] + log_end[ends]
        inside = (starts <= ends) & (ends < starts + max_answer_tokens)
        rows, cols = np.nonzero(inside)
        pairs = sorted(
            zip(log_p[rows, cols].tolist(), starts[rows, 0].tolist(), ends[0, cols].tolist(), strict=True),
            reverse=True,
        )
        taken = 0
        for lp, s, e in pairs:
            first, last = window.offsets[s], window.offsets[e]
            assert first is not None and last is not None
            found = text[first[0] : last[1]]
            if (
                not _word_bounded(text, first[0], last[1])
                or crosses_sentences(found)
                or asks_back(found, text[max(0, first[0] - 12) : first[0]])
                or repeats(found, asked)
            ):
                continue
            raw = float(start_logits[w_index][s]) + float(end_logits[w_index][e])
            out.append(SpanCandidate(w_index, s, e, first[0], last[1], float(np.exp(lp)), null, raw))
            taken += 1
            if taken == per_window:
                break
    return out


def shared_log_z(windows: Sequence[Window], start_logits: np.ndarray, end_logits: np.ndarray) -> float:
    """log Z of the shared normalization over ``windows`` (all read for one question): the
    log-sum-exp of the start logits plus that of the end logits over every passage token of
    every window, [CLS] excluded. ``exp(span.logit - shared_log_z)`` is then the span's
    probability among all spans of all the question's passages (Clark & Gardner 2018)."""
    starts, ends = [], []
    for i, window in enumerate(windows):
        valid = np.array([o is not None for o in window.offsets])
        n = len(valid)
        starts.append(np.asarray(start_logits[i][:n], dtype=np.float64)[valid])
        ends.append(np.asarray(end_logits[i][:n], dtype=np.float64)[valid])
    if not starts or not sum(len(x) for x in starts):
        return 0.0
    return _log_sum_exp(np.concatenate(starts)) + _log_sum_exp(np.concatenate(ends))


def _log_sum_exp(x: np.ndarray) -> float:
    top = float(x.max())
    return top + float(np.log(np.exp(x - top).sum()))
