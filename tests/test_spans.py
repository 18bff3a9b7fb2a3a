"""Token <-> character mapping for the reader: labels for training, spans at inference."""

from __future__ import annotations

import numpy as np
from transformers import AutoTokenizer

from index.embedder import bundled_model_dir
from qa.reading.spans import Window, answer_token_span, best_spans, encode_windows, shared_log_z

TOKENIZER = AutoTokenizer.from_pretrained(bundled_model_dir())
QUESTION = "Which agency reported it?"
TEXT = "The state information agency Khovar said 1,030 troops crossed on Monday."


def test_answer_labels_round_trip_to_the_same_characters() -> None:
    for answer in ("Khovar", "1,030", "Monday", "state information agency Khovar"):
        start = TEXT.index(answer)
        [window] = encode_windows(TOKENIZER, [QUESTION], [TEXT], 64, 16)
        s, e = answer_token_span(window, start, start + len(answer))
        first, last = window.offsets[s], window.offsets[e]
        assert first is not None and last is not None
        assert TEXT[first[0] : last[1]] == answer


def test_long_passages_overflow_into_strided_windows_and_label_cls_when_absent() -> None:
    text = " ".join(f"word{i}" for i in range(300)) + " The answer is Khovar."
    windows = encode_windows(TOKENIZER, [QUESTION], [text], 96, 32)
    assert len(windows) > 3 and {w.passage for w in windows} == {0}
    start = text.index("Khovar")
    labels = [answer_token_span(w, start, start + 6) for w in windows]
    assert labels[0] == (0, 0) and labels[-1] != (0, 0)


def _logits_peaking_at(window: Window, start_char: int, end_char: int) -> tuple[np.ndarray, np.ndarray]:
    starts = np.full((1, len(window.input_ids)), -5.0, dtype=np.float32)
    ends = starts.copy()
    for pos, span in enumerate(window.offsets):
        if span and span[0] == start_char:
            starts[0, pos] = 8.0
        if span and span[1] == end_char:
            ends[0, pos] = 8.0
    return starts, ends


def test_best_span_maps_back_to_exact_characters_with_a_probability() -> None:
    [window] = encode_windows(TOKENIZER, [QUESTION], [TEXT], 64, 16)
    start = TEXT.index("Khovar")
    starts, ends = _logits_peaking_at(window, start, start + 6)
    best = best_spans([window], starts, ends, [TEXT])[0]
    assert TEXT[best.char_start : best.char_end] == "Khovar"
    assert 0.9 < best.probability <= 1.0 and best.null_probability < 0.01


def test_spans_never_start_or_end_inside_a_word() -> None:
    [window] = encode_windows(TOKENIZER, [QUESTION], [TEXT], 64, 16)
    pieces = [span for span in window.offsets if span and TEXT[span[0] - 1].isalnum()]
    assert pieces, "Khovar or 1,030 should be split into word pieces"
    inner = pieces[0]
    starts, ends = _logits_peaking_at(window, inner[0], inner[1])
    for candidate in best_spans([window], starts, ends, [TEXT], per_window=5):
        text = TEXT[candidate.char_start : candidate.char_end]
        assert not TEXT[candidate.char_start - 1].isalnum(), text
        assert candidate.char_end == len(TEXT) or not TEXT[candidate.char_end].isalnum(), text


def test_a_question_of_any_allowed_length_leaves_room_for_the_passage() -> None:
    question = (
        "Which agency, according to the officials who spoke on Monday, reported it? " * 25
    )  # ~1,900 chars
    windows = encode_windows(TOKENIZER, [question], [TEXT], 192, 64)
    assert windows and all(len(w.input_ids) <= 192 for w in windows)
    covered = {o for w in windows for o in w.offsets if o is not None}
    assert TEXT[min(s for s, _ in covered) : max(e for _, e in covered)] == TEXT.rstrip(".") + "."


def test_shared_normalization_compares_spans_across_windows() -> None:
    """A span peaked in its own window but weak in raw logits must not outrank the strong span
    of another window once both are normalized together (the per-window softmax ties them)."""
    texts = [TEXT, "Officials said 20,000 reservists were mobilized on the border."]
    windows = encode_windows(TOKENIZER, [QUESTION, QUESTION], texts, 64, 16)
    weak_s, weak_e = _logits_peaking_at(windows[0], TEXT.index("Khovar"), TEXT.index("Khovar") + 6)
    at = texts[1].index("20,000")
    strong_s, strong_e = _logits_peaking_at(windows[1], at, at + 6)
    width = max(len(w.input_ids) for w in windows)
    starts = np.full((2, width), -1e4, dtype=np.float32)
    ends = starts.copy()
    starts[0, : weak_s.shape[1]], ends[0, : weak_e.shape[1]] = weak_s[0] - 6, weak_e[0] - 6
    starts[1, : strong_s.shape[1]], ends[1, : strong_e.shape[1]] = strong_s[0], strong_e[0]
    found = best_spans(windows, starts, ends, texts, per_window=1)
    assert abs(found[0].probability - found[1].probability) < 1e-3  # per window: a tie
    log_z = shared_log_z(windows, starts, ends)
    shared = [float(np.exp(c.logit - log_z)) for c in found]
    assert shared[1] > 0.99 and shared[0] < 0.01
    # Brute force: the product of the two softmaxes over every passage token of both windows.
    valid = [np.array([o is not None for o in w.offsets]) for w in windows]
    all_s = np.concatenate([starts[i, : len(v)][v] for i, v in enumerate(valid)]).astype(np.float64)
    all_e = np.concatenate([ends[i, : len(v)][v] for i, v in enumerate(valid)]).astype(np.float64)
    expected = np.exp(found[1].logit) / np.exp(all_s).sum() / np.exp(all_e).sum()
    assert abs(shared[1] - expected) < 1e-6


def test_a_span_never_runs_from_one_sentence_into_the_next() -> None:
    from qa.reading.spans import crosses_sentences

    assert crosses_sentences("majority support for impeachment and even removal. Fifty-one percent")
    assert crosses_sentences("He left. She stayed")
    for kept in ("Fr. Zahm", "Marbury v. Madison", "U.S. Army", "Mr. Smith", "20,000", "3.5 percent"):
        assert not crosses_sentences(kept), kept


def test_a_passage_echoing_the_question_never_answers_it_with_its_interrogative() -> None:
    """ "It is not clear how many have converted": the reader's favourite span is the question's
    own "how many"; the next best span, a real one, is what comes back."""
    text = "It is not clear how many have converted, but 9.5 million signed up."
    question = "How many users converted to paying subscribers?"
    [window] = encode_windows(TOKENIZER, [question], [text], 64, 16)
    at, other = text.index("how many"), text.index("9.5 million")
    starts, ends = _logits_peaking_at(window, at, at + len("how many"))
    weaker = _logits_peaking_at(window, other, other + len("9.5 million"))
    starts, ends = np.maximum(starts, weaker[0] - 2), np.maximum(ends, weaker[1] - 2)
    found = best_spans([window], starts, ends, [text], max_answer_tokens=5, per_window=3)
    shown = [text[c.char_start : c.char_end] for c in found]
    assert shown[0] == "9.5 million" and "how many" not in shown, shown


def test_only_interrogative_phrases_are_taken_for_echoes() -> None:
    from qa.reading.spans import asks_back

    for echo in ("how many", "How much", "which", "whose", "When"):
        assert asks_back(echo), echo
    for answer in ("WHO", "many", "how many people", "the WHO", "Which? magazine", "20,000"):
        assert not asks_back(answer), answer
    assert asks_back("many", "it is not clear how ")  # the end of one
    assert not asks_back("many", "Critics were ") and not asks_back("Many", "")


def test_a_span_that_repeats_the_question_is_not_its_answer() -> None:
    """The question names what it asks about: "James Van Der Beek" is never the answer to
    "Who was James Van Der Beek's dance partner?", but a choice question is answered so."""
    from qa.reading.spans import named_in, repeats

    def echoes(span: str, question: str) -> bool:
        return repeats(span, named_in(question))

    partner = "Who was James Van Der Beek\u2019s dance partner?"
    assert echoes("James Van Der Beek", partner) and echoes("Beek", partner)
    assert not echoes("Emma Slater", partner)
    assert not echoes("Spectre", "Which film grossed more, Skyfall or Spectre?")
    text = "James Van Der Beek danced with Emma Slater on Monday."
    [window] = encode_windows(TOKENIZER, [partner], [text], 64, 16)
    starts, ends = _logits_peaking_at(window, 0, len("James Van Der Beek"))
    weaker = _logits_peaking_at(window, text.index("Emma"), text.index(" on"))
    starts, ends = np.maximum(starts, weaker[0] - 2), np.maximum(ends, weaker[1] - 2)
    found = best_spans([window], starts, ends, [text], max_answer_tokens=6, questions=[partner])
    assert text[found[0].char_start : found[0].char_end] == "Emma Slater"
