"""What this CPU does fast, measured rather than guessed from its feature flags.

bf16 halves the work of a matrix product only where the CPU really computes in it: on one
2-core EPYC it ran the reader 2.5x faster than fp32, on a 2-core Xeon VM that reports
AVX512-BF16 it ran 1.4x *slower*. So the choice is made by timing, once per process.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BF16_MIN_SPEEDUP = 1.2  # below this, fp32 (exact) is kept


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.cache
def bf16_speedup() -> float:
    """fp32 time / bf16 time of a transformer-sized matrix product under autocast (~50 ms)."""
    import torch

    x = torch.randn(256, 384)
    layer = torch.nn.Linear(384, 1536)

    def best(bf16: bool) -> float:
        times = []
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            for _ in range(12):
                t0 = time.perf_counter()
                layer(x)
                times.append(time.perf_counter() - t0)
        return min(times[2:])

    return best(False) / best(True)


def bf16_pays_off() -> bool:
    return bf16_speedup() >= BF16_MIN_SPEEDUP


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def set_threads(n: int) -> None:
    """Threads for torch and FAISS in the calling thread (OpenMP settings are per thread)."""
    import faiss
    import torch

    torch.set_num_threads(n)
    faiss.omp_set_num_threads(n)


class ComputeGate:
    """Where model calls queue for the cores.

    A call (a query embedding, one reader pass) takes one of ``cores // threads`` slots and
    computes with ``threads`` threads, so concurrent requests never oversubscribe the cores.
    A bulk job (embedding a batch of passages) takes every slot and every core for one chunk
    at a time, then lets waiting calls in before its next chunk.

    The queue is first come, first served: a call that arrives while a bulk job waits for
    the cores queues behind it. (With a plain semaphore, a stream of calls kept taking each
    freed slot, and an add waited seconds for both cores under load.)
    """

    def __init__(self, threads: int = 0, cores: int = 0) -> None:
        self.cores = cores or available_cores()
        self.threads = min(threads or self.cores, self.cores)
        self.slots = max(1, self.cores // self.threads)
        self._cond = threading.Condition()
        self._free = self.slots
        self._next_ticket = 0  # handed to each arrival
        self._serving = 0  # the ticket whose turn it is

    def _acquire(self, need: int) -> None:
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving or self._free < need:
                self._cond.wait()
            self._free -= need
            self._serving += 1
            self._cond.notify_all()

    def _release(self, n: int) -> None:
        with self._cond:
            self._free += n
            self._cond.notify_all()

    def __enter__(self) -> ComputeGate:
        self._acquire(1)
        return self

    def __exit__(self, *exc: object) -> None:
        self._release(1)

    @contextmanager
    def all_cores(self) -> Iterator[None]:
        self._acquire(self.slots)
        try:
            if self.cores != self.threads:
                set_threads(self.cores)
            yield
        finally:
            if self.cores != self.threads:
                set_threads(self.threads)
            self._release(self.slots)
