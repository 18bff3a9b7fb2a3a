"""Candidate CPU speed-ups for the embedder and the reader, measured side by side.

    python -m qa.tools.speedups [--squad ../shared/data/squad] [--paragraphs 600] [--questions 1000]

Embedder: passages/s over SQuAD paragraphs (batches of 32, longest first), one short query's
latency, and the cosine of each variant's vectors to torch fp32's. Variants: torch fp32,
torch bf16 autocast, torch int8 dynamic quantization, ONNX Runtime fp32 and ONNX Runtime
int8 dynamic quantization of the same export.

Reader: EM/F1 and questions/s on the first ``--questions`` of SQuAD dev (gold paragraph
given) under fp32, bf16 autocast and int8 on the feed-forward layers.

Each timing is the best of ``--runs``; the bar for adopting a variant is 1.5x faster than
torch fp32 with at most 1 F1 point (or, for embeddings, no retrieval quality) lost.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np


def _best(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def embedder_variants(tmp: Path, threads: int) -> dict[str, Callable[[list[str]], np.ndarray]]:
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from index.embedder import Embedder, _export
    from qa.reading.reader import quantize_linear

    base = Embedder(precision="fp32")
    module: Any = base._model[0]
    tokenizer: Any = module.tokenizer
    model: Any = module.auto_model
    max_length = int(base._model.max_seq_length or 512)

    def torch_encode(net: Any, bf16: bool = False) -> Callable[[list[str]], np.ndarray]:
        def encode(texts: list[str]) -> np.ndarray:
            batch = tokenizer(
                texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            )
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                hidden = net(**batch).last_hidden_state.float()
            return _pool(hidden.numpy(), batch["attention_mask"].numpy())

        return encode

    fp32 = tmp / "embedder.onnx"
    _export(model, tokenizer, fp32)
    int8 = tmp / "embedder.int8.onnx"
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)

    def onnx_encode(path: Path) -> Callable[[list[str]], np.ndarray]:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        def encode(texts: list[str]) -> np.ndarray:
            batch = tokenizer(
                texts, padding=True, truncation=True, max_length=max_length, return_tensors="np"
            )
            feed = {k: np.asarray(v, dtype=np.int64) for k, v in batch.items()}
            return _pool(session.run(None, feed)[0], feed["attention_mask"])

        return encode

    return {
        "torch fp32": torch_encode(model),
        "torch bf16 autocast": torch_encode(model, bf16=True),
        "torch int8 dynamic": torch_encode(quantize_linear(model, lambda name: True, per_channel=False)),
        "ONNX Runtime fp32": onnx_encode(fp32),
        "ONNX Runtime int8 dynamic": onnx_encode(int8),
    }


def _pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask.astype(np.float32)[..., None]
    v = (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def encode_all(encode: Callable[[list[str]], np.ndarray], texts: list[str], batch: int = 32) -> np.ndarray:
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out = np.empty((len(texts), 384), dtype=np.float32)
    for lo in range(0, len(order), batch):
        rows = order[lo : lo + batch]
        out[rows] = encode([texts[i] for i in rows])
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--squad", type=Path, default=Path("../shared/data/squad"))
    parser.add_argument("--paragraphs", type=int, default=600)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--questions", type=int, default=1000, help="SQuAD dev questions for the reader")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from index.hardware import set_threads
    from qa.evaluation.evaluate import evaluate_squad
    from qa.reading.reader import Reader
    from qa.reading.squad import load_squad
    from qa.settings import DEFAULT_READER

    set_threads(args.threads)
    examples = load_squad(args.squad / "dev-v1.1-minus-xquad.json")
    paragraphs = list(dict.fromkeys(e.context for e in examples))[: args.paragraphs]
    queries = list(dict.fromkeys(e.question for e in examples))[: args.queries]

    print(f"Embedder, {len(paragraphs)} SQuAD paragraphs and {len(queries)} queries, {args.threads} threads:")
    print("| variant | passages/s | query p50 (ms) | cosine to torch fp32, min / mean |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        variants = embedder_variants(Path(tmp), args.threads)
        reference = encode_all(variants["torch fp32"], paragraphs)
        for name, encode in variants.items():
            encode(paragraphs[:32])  # warm-up
            seconds = _best(partial(encode_all, encode, paragraphs), args.runs)
            ms = []
            for q in queries:
                t0 = time.perf_counter()
                encode([q])
                ms.append((time.perf_counter() - t0) * 1000)
            cos = (encode_all(encode, paragraphs) * reference).sum(1)
            print(
                f"| {name} | {len(paragraphs) / seconds:.1f} | {statistics.median(ms):.2f} | "
                f"{cos.min():.4f} / {cos.mean():.5f} |",
                flush=True,
            )

    print(f"\nReader, first {args.questions} SQuAD dev questions, {args.threads} threads:")
    print("| precision | EM | F1 | questions/s |")
    print("|---|---|---|---|")
    path = args.squad / "dev-v1.1-minus-xquad.json"
    for precision in ("fp32", "bf16", "int8"):
        reader = Reader(DEFAULT_READER, precision=precision)
        evaluate_squad(reader, path, 64)  # warm-up
        result = evaluate_squad(reader, path, args.questions)
        print(
            f"| {precision} | {result['em']:.1f} | {result['f1']:.2f} | {result['questions_per_s']:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
