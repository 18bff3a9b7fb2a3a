"""What one request costs at the limits: the figures of the README's "Bounded work".

    python -m qa.tools.bounds [--work DIR]

Over a corpus of long paragraphs (40 documents of 6 paragraphs of ~2,900 characters, the
most a passage holds), it times, in-process: one ask at the largest ``top_k`` and
``max_answers``, and a batch of 64 long questions at the same settings; and, while that
batch runs in another thread, the latency of searches (which must stay fast). It prints the
reader windows each read, as counted at the model call.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from qa.schemas import MAX_BATCH, MAX_K, MAX_QUESTION_CHARS

SENTENCE = "Officials in the {} district said {} families had left their homes by Monday as the river rose. "


def count_windows(reader: Any) -> list[int]:
    """From now on, the number of windows of each model call of ``reader`` is appended to
    the list returned."""
    windows: list[int] = []
    logits = reader.logits

    def counted(batch: Any) -> Any:
        windows.append(len(batch))
        return logits(batch)

    reader.logits = counted
    return windows


def long_corpus(folder: Path, documents: int = 40) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for d in range(documents):
        paragraphs = [
            "".join(SENTENCE.format(f"Region{d}-{p}", 10 * (d + s)) for s in range(30))[:2900]
            for p in range(6)
        ]
        (folder / f"doc{d:03d}.txt").write_text("\n\n".join(paragraphs))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from qa.engine import Engine
    from qa.settings import Settings

    work = args.work or Path(tempfile.mkdtemp(prefix="qa-bounds-"))
    long_corpus(work / "corpus")
    engine = Engine(Settings(data_dir=work / "data", corpus=work / "corpus"))
    assert engine.reader is not None
    windows = count_windows(engine.reader)
    question = "How many families had left their homes by Monday in the district? " * 28
    question = question[:MAX_QUESTION_CHARS]
    engine.ask(question, top_k=5)  # warm-up
    windows.clear()
    t0 = time.perf_counter()
    engine.ask(question, top_k=MAX_K, max_answers=20)
    elapsed = time.perf_counter() - t0
    print(f"one ask, top_k={MAX_K}, max_answers=20: {elapsed:.2f} s, {sum(windows)} windows read")
    windows.clear()
    searches: list[float] = []
    done = threading.Event()

    def search_meanwhile() -> None:
        while not done.is_set():
            s0 = time.perf_counter()
            engine.search("Which district did families leave?", 5)
            searches.append((time.perf_counter() - s0) * 1000)
            time.sleep(0.05)

    watcher = threading.Thread(target=search_meanwhile)
    watcher.start()
    t0 = time.perf_counter()
    engine.ask_batch([f"{question[:1900]} ({i})" for i in range(MAX_BATCH)], top_k=MAX_K, max_answers=20)
    elapsed = time.perf_counter() - t0
    done.set()
    watcher.join()
    print(f"batch of {MAX_BATCH} such questions: {elapsed:.2f} s, {sum(windows)} windows read")
    if searches:
        p50 = statistics.median(searches)
        print(f"searches meanwhile: {len(searches)}, p50 {p50:.0f} ms, max {max(searches):.0f} ms")
    engine.close()


if __name__ == "__main__":
    main()
