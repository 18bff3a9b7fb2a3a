"""The extractive reader: a span head on MiniLM, run on CPU, shipped in ``qa/weights/reader``.

Reads a question against several passages in one batch and returns candidate spans with
character offsets taken from the tokenizer's offset mapping, and a confidence in [0, 1]:
the span's probability in its window, where "no answer" ([CLS]) competes for the mass.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.embedder import local_model as local_model  # what `qa fit --reader` resolves too
from index.embedder import offline
from index.hardware import ComputeGate, bf16_pays_off, file_sha256
from qa.reading.packed import PackedBert, rows_for
from qa.reading.spans import Window, best_spans, encode_windows, pad_batch, shared_log_z

log = logging.getLogger(__name__)


PRECISIONS = ("auto", "fp32", "bf16", "int8")


# More characters than one window holds (about 170 passage tokens, 700-900 characters of
# English): passages past ``budget * WINDOW_CHARS`` characters are not even tokenized.
WINDOW_CHARS = 1200


def within_chars(texts: Sequence[str], limit: int) -> list[str]:
    """The leading ``texts`` (best-ranked first) up to ``limit`` characters in all, at least
    one (0: all)."""
    if not limit:
        return list(texts)
    out: list[str] = []
    used = 0
    for text in texts:
        if out and used + len(text) > limit:
            break
        out.append(text)
        used += len(text)
    return out


def within_budget(windows: Sequence[Window], question_of: Sequence[int], budget: int) -> list[Window]:
    """The first ``budget`` windows of each question, in passage order (0: all)."""
    if not budget:
        return list(windows)
    taken: dict[int, int] = {}
    out = []
    for w in windows:
        q = question_of[w.passage]
        if taken.get(q, 0) < budget:
            taken[q] = taken.get(q, 0) + 1
            out.append(w)
    return out


class ReaderUnavailable(RuntimeError):
    """The reader's weights are missing or do not match their recorded checksum."""


@dataclass(frozen=True)
class Span:
    passage: int  # index into the passages given to ``read``
    start: int  # character offsets into that passage
    end: int
    text: str
    confidence: float  # the span's probability in its window
    null: float = 0.0  # the window's "no answer" ([CLS]) probability
    # The span's probability among every span of every passage read for the question
    # (shared normalization): comparable across passages, unlike ``confidence``.
    shared: float = 0.0


@dataclass(frozen=True)
class Reading:
    """The spans read for one question, best first, and the log normalizer they share."""

    spans: list[Span]
    log_z: float


def verify_weights(directory: Path) -> dict[str, Any]:
    """A reader trained here: ``model.safetensors`` checked against the checksum its
    ``training.json`` records. Any other question-answering model (a folder of another team,
    a Hugging Face model): its weights' own checksum, with ``trained_here`` false (its answer
    scorer is then the one fitted for that checksum, or the fallback: ``Engine``)."""
    info_path, weights = directory / "training.json", directory / "model.safetensors"
    if not weights.exists():
        weights = directory / "pytorch_model.bin"
    if not weights.exists():
        raise ReaderUnavailable(f"no reader weights in {directory} (model.safetensors or pytorch_model.bin)")
    if not info_path.exists():
        return {"weights_sha256": file_sha256(weights), "trained_here": False}
    info = json.loads(info_path.read_text())
    if file_sha256(weights) != info.get("weights_sha256"):
        raise ReaderUnavailable(f"{weights} does not match its recorded checksum")
    return {**info, "trained_here": True}


def is_feed_forward(name: str) -> bool:
    return ".intermediate." in name or (name.endswith("output.dense") and ".attention." not in name)


def quantize_linear(
    model: Any, pick: Callable[[str], bool] = is_feed_forward, per_channel: bool = True
) -> Any:
    """int8 dynamic quantization of the linear layers whose names ``pick`` accepts
    (by default the feed-forward ones), per output channel or per tensor."""
    import torch
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig

    qconfig = per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig
    spec = {
        name: qconfig
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and pick(name)
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notices
        return torch.ao.quantization.quantize_dynamic(model, spec, dtype=torch.qint8)  # type: ignore[no-untyped-call]


class Reader:
    def __init__(
        self,
        directory: Path,
        max_length: int = 192,
        stride: int = 64,
        batch_size: int = 32,
        precision: str = "auto",
        threads: int = 0,
        max_windows: int = 0,
        max_windows_per_call: int = 0,
    ) -> None:
        """``precision``: ``fp32``; ``bf16`` (weights in bf16: the same answers, and 2.5x faster
        where the CPU computes in bf16, slower where it does not); ``auto``: bf16 where a
        timing probe shows it pays, else fp32; ``int8``: dynamic quantization of the
        feed-forward layers (per channel; the attention layers stay fp32: quantizing them
        cost 1.5 F1 more)."""
        if precision not in PRECISIONS:
            raise ValueError(f"reader precision must be one of {', '.join(PRECISIONS)}")
        offline()
        import torch
        from transformers import AutoModelForQuestionAnswering, AutoTokenizer

        directory = local_model(str(directory), "reader")
        self.info = verify_weights(directory)
        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(directory)
        # What the model takes: segment ids only where its tokenizer makes them (BERT's, not
        # RoBERTa's or DistilBERT's).
        self.inputs = set(self.tokenizer.model_input_names) | {"input_ids", "attention_mask"}
        self.model = AutoModelForQuestionAnswering.from_pretrained(directory, dtype=torch.float32)
        self.model.eval()
        if precision == "auto":
            precision = "bf16" if bf16_pays_off() else "fp32"
        self.precision = precision
        if precision == "int8":
            self.model = quantize_linear(self.model)
        self.max_length, self.stride, self.batch_size = max_length, stride, batch_size
        # The work of one call is bounded: at most ``max_windows`` windows read per question and
        # ``max_windows_per_call`` per call (several questions), best-ranked passages first
        # (0: no bound).
        self.max_windows, self.max_windows_per_call = max_windows, max_windows_per_call
        self.bf16 = precision == "bf16"
        if self.bf16:
            # Weights held in bf16 once, not cast on every call as autocast does: the cast of
            # 22M weights was a third of a short question's reader time (measured 81.5 -> 54.8 ms
            # for 5 windows of 192 tokens on an AMX Xeon; logits within 0.04 of fp32 either way).
            self.model = self.model.to(torch.bfloat16)
        # The lean forward over packed windows where the model is a BERT span reader in fp32
        # or bf16 (``qa.reading.packed``); transformers' own forward otherwise.
        lean = precision != "int8" and PackedBert.supports(self.model)
        self.packed = PackedBert(self.model) if lean else None
        self.gate = ComputeGate()  # the engine shares its own: see ComputeGate

    def warm(self, up_to: int = 1024) -> int:
        """Read a call of every row count (``qa.reading.packed.rows_for``) up to ``up_to``
        tokens once, so that the CPU kernels for them are built before questions need them
        (a question whose count is new waits ~12 ms more). Returns the calls made."""
        if self.packed is None:
            return 0
        counts = sorted({rows_for(n) for n in range(1, up_to + 1)})
        for total in counts:
            sizes = [self.max_length] * (total // self.max_length) + [total % self.max_length]
            self.logits(
                [Window(0, [self.tokenizer.cls_token_id] * n, [0] * n, [None] * n) for n in sizes if n]
            )
        return len(counts)

    def logits(self, windows: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Start and end logits for windows, in batches, padded per batch."""
        torch = self._torch
        width = max(len(w.input_ids) for w in windows)
        starts = np.full((len(windows), width), -1e4, dtype=np.float32)
        ends = np.full((len(windows), width), -1e4, dtype=np.float32)
        for lo in range(0, len(windows), self.batch_size):
            batch = windows[lo : lo + self.batch_size]
            if self.packed is not None:
                with self.gate:
                    s, e = self.packed.logits(batch)
                starts[lo : lo + len(batch), : s.shape[1]] = s
                ends[lo : lo + len(batch), : e.shape[1]] = e
                continue
            inputs = {
                k: torch.from_numpy(v)
                # Widths in steps of 16: oneDNN builds a kernel per new shape of a bf16 product.
                for k, v in pad_batch(batch, self.tokenizer.pad_token_id, multiple=16).items()
                if k in self.inputs
            }
            with self.gate, torch.inference_mode():
                out = self.model(**inputs)
            n = min(width, inputs["input_ids"].shape[1])
            starts[lo : lo + len(batch), :n] = out.start_logits[:, :n].float().numpy()
            ends[lo : lo + len(batch), :n] = out.end_logits[:, :n].float().numpy()
        return starts, ends

    def best_answers(self, questions: Sequence[str], contexts: Sequence[str]) -> list[Span | None]:
        """The single best span for each (question, context) pair, read in shared batches
        (used to score the reader alone on SQuAD)."""
        windows = encode_windows(self.tokenizer, questions, contexts, self.max_length, self.stride)
        # Sort by length so that each batch pads little; map results back afterwards.
        order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids))
        ordered = [windows[i] for i in order]
        starts, ends = self.logits(ordered)
        best: list[Span | None] = [None] * len(questions)
        for c in best_spans(ordered, starts, ends, contexts, per_window=1, questions=questions):
            pair = ordered[c.window].passage
            current = best[pair]
            if current is None or c.probability > current.confidence:
                text = contexts[pair][c.char_start : c.char_end]
                best[pair] = Span(pair, c.char_start, c.char_end, text, c.probability, c.null_probability)
        return best

    def _budget(self, questions: int, per_call: int | None = None) -> int:
        """Windows one question may read in a call for ``questions`` questions (0: no bound);
        ``per_call`` overrides ``max_windows_per_call`` (a part of a request gets its share)."""
        total = self.max_windows_per_call if per_call is None else per_call
        share = max(1, total // max(1, questions)) if total else 0
        bounds = [b for b in (self.max_windows, share) if b]
        return min(bounds) if bounds else 0

    def read(self, question: str, passages: Sequence[str], per_passage: int = 3) -> list[Span]:
        """Candidate answer spans over all passages, best first."""
        return self.read_many([(question, passages)], per_passage)[0].spans

    def read_many(
        self,
        items: Sequence[tuple[str, Sequence[str]]],
        per_passage: int = 3,
        log_z: Sequence[float | None] | None = None,
        max_windows: int | None = None,
    ) -> list[Reading]:
        """``read`` for several questions (each with its passages) in shared batches: the
        windows of every pair are sorted by length so that a batch pads little. Each span's
        ``shared`` probability is normalized over every window of its question, or against
        ``log_z[q]`` where given (to place passages read later on the first pass's scale).
        ``max_windows``: this call's share of a request's window budget."""
        budget = self._budget(len(items), max_windows)
        pairs = [
            (q, i, text)
            for q, (question, texts) in enumerate(items)
            for i, text in enumerate(within_chars(texts, budget * WINDOW_CHARS if budget else 0))
        ]
        spans: list[list[Span]] = [[] for _ in items]
        if not pairs:
            return [Reading([], 0.0) for _ in items]
        questions = [items[q][0] for q, _, _ in pairs]
        texts = [text for _, _, text in pairs]
        windows = within_budget(
            encode_windows(self.tokenizer, questions, texts, self.max_length, self.stride),
            [q for q, _, _ in pairs],
            budget,
        )
        ordered = sorted(windows, key=lambda w: len(w.input_ids))
        starts, ends = self.logits(ordered)
        rows: list[list[int]] = [[] for _ in items]
        for row, w in enumerate(ordered):
            rows[pairs[w.passage][0]].append(row)
        z = [
            given
            if given is not None
            else shared_log_z([ordered[r] for r in rows[q]], starts[rows[q]], ends[rows[q]])
            for q, given in enumerate(log_z or [None] * len(items))
        ]
        for c in best_spans(ordered, starts, ends, texts, per_window=per_passage, questions=questions):
            q, passage, text = pairs[ordered[c.window].passage]
            span = text[c.char_start : c.char_end]
            shared = float(np.exp(min(0.0, c.logit - z[q])))
            spans[q].append(
                Span(passage, c.char_start, c.char_end, span, c.probability, c.null_probability, shared)
            )
        for found in spans:
            found.sort(key=lambda s: -s.confidence)
        return [Reading(found, z[q]) for q, found in enumerate(spans)]
