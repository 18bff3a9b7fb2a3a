"""What this CPU does fast, measured rather than guessed from its feature flags.

bf16 halves the work of a matrix product only where the CPU really computes in it: on one
2-core EPYC it ran the reader 2.5x faster than fp32, on a 2-core Xeon VM that reports
AVX512-BF16 it ran 1.4x *slower*. So the choice is made by timing, robustly, once per
machine and data directory, and recorded there (``precision_choice``): two processes on one
data directory never choose differently.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

BF16_MIN_SPEEDUP = 1.2  # below this, fp32 (exact) is kept


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bf16_speedup(rounds: int = 9) -> float:
    """fp32 time / bf16 time of a transformer-sized matrix product under autocast: the median
    over ``rounds`` interleaved rounds of each one's best of 5, so that load on the machine
    (which slows both alike within a round) does not decide it (~100 ms)."""
    import torch

    x = torch.randn(256, 384)
    layer = torch.nn.Linear(384, 1536)

    def best(bf16: bool) -> float:
        times = []
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            for _ in range(6):
                t0 = time.perf_counter()
                layer(x)
                times.append(time.perf_counter() - t0)
        return min(times[1:])

    ratios = sorted(best(False) / best(True) for _ in range(rounds))
    return ratios[len(ratios) // 2]


@dataclass(frozen=True)
class PrecisionChoice:
    """Whether bf16 pays on this machine, as measured once and recorded."""

    bf16: bool
    speedup: float  # fp32 time / bf16 time when it was measured
    machine: str  # what the record is for (CPU, cores, torch)
    recorded_in: str  # the file that holds it ("" when it could not be written)

    @property
    def precision(self) -> str:
        return "bf16" if self.bf16 else "fp32"


def machine_key() -> str:
    """The CPU model and flags, the cores and the torch version: a record measured under
    another of these is measured again."""
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        info = Path("/proc/cpuinfo").read_text()
        model = next(
            (ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("model name")), cpu
        )
        flags = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("flags")), "")
        cpu = f"{model} {hashlib.sha256(flags.encode()).hexdigest()[:12]}"
    except OSError:
        pass
    return f"{cpu} / {available_cores()} cores / torch {torch.__version__}"


_measured: dict[str, PrecisionChoice] = {}
_measure_lock = threading.Lock()


def precision_choice(data_dir: Path | None = None) -> PrecisionChoice:
    """bf16 or fp32 for this machine, the same for every process that uses ``data_dir``: the
    first one measures (robustly, under a file lock) and records the result in
    ``data_dir/hardware.json``; the others, and later starts, read it. A record made on
    another machine (other CPU, cores or torch) is measured again. Without a data dir, or
    where it cannot be written, the measurement is kept for the life of the process."""
    key = machine_key()
    if data_dir is None:
        return _measure_once(key)
    path = Path(data_dir) / "hardware.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                record = json.loads(path.read_text()) if path.exists() else {}
            except (OSError, ValueError):
                record = {}
            if isinstance(record, dict) and record.get("machine") == key and "bf16" in record:
                return PrecisionChoice(bool(record["bf16"]), float(record["speedup"]), key, str(path))
            measured = _measure_once(key)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(
                json.dumps({"machine": key, "bf16": measured.bf16, "speedup": round(measured.speedup, 3)})
            )
            tmp.replace(path)
            log.info(
                "bf16 runs %.2fx the speed of fp32 here: %s recorded in %s",
                measured.speedup,
                measured.precision,
                path,
            )
            # As recorded: this process and the later ones report the same figure.
            return PrecisionChoice(measured.bf16, round(measured.speedup, 3), key, str(path))
    except OSError as exc:
        log.warning(
            "cannot record the precision choice in %s (%s): measured for this process only",
            path,
            exc.strerror,
        )
        return _measure_once(key)


def _measure_once(key: str) -> PrecisionChoice:
    with _measure_lock:
        if key not in _measured:
            speedup = bf16_speedup()
            _measured[key] = PrecisionChoice(speedup >= BF16_MIN_SPEEDUP, speedup, key, "")
        return _measured[key]


def bf16_pays_off() -> bool:
    """For a model used outside an engine: measured once per process."""
    return precision_choice(None).bf16


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
