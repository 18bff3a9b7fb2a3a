"""Search and ask latency against the size of the corpus: ``python -m qa.tools.size_latency
--train ../shared/data/squad/train-v1.1.json --json docs/measured/size-latency.json``.

One data directory grows by SQuAD-train paragraphs (each a document, imported 1,000 at a
time as JSON Lines, as a user would) to each size in ``--sizes``; at each, the same
questions (those of the first paragraphs, so the answers are always in the corpus while the
distractors grow) are searched (k=5) and asked (top_k=5), one at a time, in-process, after
a warm-up. ``qa.tools.figures --latency`` draws the JSON."""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from index.hardware import machine_key
from qa.engine import Engine
from qa.settings import Settings

IMPORT_PART = 1000  # documents per import (MAX_IMPORT_DOCUMENTS)


def paragraphs(train: Path) -> list[tuple[str, list[str]]]:
    """(context, its questions) of every SQuAD-train paragraph, in file order."""
    data = json.loads(train.read_text(encoding="utf-8"))["data"]
    return [(p["context"], [q["question"] for q in p["qas"]]) for a in data for p in a["paragraphs"]]


def timed(call: Any, questions: list[str]) -> list[float]:
    out = []
    for q in questions:
        t0 = time.perf_counter()
        call(q)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def measure(train: Path, sizes: list[int], questions: int) -> dict[str, Any]:
    corpus = paragraphs(train)
    asked = [qs[0] for _, qs in corpus[: max(1, questions)]][:questions]
    rows = []
    with tempfile.TemporaryDirectory() as work:
        engine = Engine(Settings(data_dir=Path(work) / "data", corpus=None))
        try:
            have = 0
            for size in sorted(sizes):
                while have < size:
                    part = corpus[have : min(size, have + IMPORT_PART)]
                    lines = [
                        json.dumps({"doc_id": f"p{have + i}", "text": c}) for i, (c, _) in enumerate(part)
                    ]
                    engine.import_file("part.jsonl", "\n".join(lines).encode("utf-8"))
                    have += len(part)
                health = engine.health()
                timed(lambda q: engine.ask(q), asked[:5])  # warm-up
                search = timed(lambda q: engine.search(q, k=5), asked)
                ask = timed(lambda q: engine.ask(q, top_k=5), asked)
                row = {
                    "documents": health.documents,
                    "passages": health.passages,
                    "search_p50_ms": round(statistics.median(search), 1),
                    "search_p95_ms": round(sorted(search)[int(0.95 * (len(search) - 1))], 1),
                    "ask_p50_ms": round(statistics.median(ask), 1),
                    "ask_p95_ms": round(sorted(ask)[int(0.95 * (len(ask) - 1))], 1),
                }
                rows.append(row)
                print(
                    f"| {row['passages']:,} | {row['search_p50_ms']} | {row['search_p95_ms']} | "
                    f"{row['ask_p50_ms']} | {row['ask_p95_ms']} |",
                    flush=True,
                )
        finally:
            engine.close()
    return {
        "machine": machine_key(),
        "python": platform.python_version(),
        "questions": len(asked),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=Path, default=Path("../shared/data/squad/train-v1.1.json"))
    ap.add_argument("--sizes", default="250,1000,4000,16000", help="documents (SQuAD paragraphs)")
    ap.add_argument("--questions", type=int, default=40)
    ap.add_argument("--json", type=Path, help="write the figures here (for qa.tools.figures --latency)")
    args = ap.parse_args(argv)
    if not args.train.exists():
        raise SystemExit(f"no SQuAD train at {args.train} (--train)")
    print("| passages | search p50 (ms) | p95 | ask p50 (ms) | p95 |\n|---|---|---|---|---|", flush=True)
    result = measure(args.train, [int(s) for s in args.sizes.split(",")], args.questions)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
