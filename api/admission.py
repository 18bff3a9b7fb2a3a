"""Admission to the reader: a few asks compute, a bounded number wait, the rest are told to
come back (503 + Retry-After), so a crowd of asks never holds every worker thread and
``/health`` and ``/search`` stay fast for everyone else."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

RETRY_AFTER_S = 2


class Busy(Exception):
    """Every computing slot is taken and the waiting line is full."""


class AskQueue:
    def __init__(self, computing: int, waiting: int) -> None:
        self.computing = max(1, computing)
        self.limit = self.computing + max(0, waiting)
        self._slots = threading.BoundedSemaphore(self.computing)
        self._lock = threading.Lock()
        self.admitted = 0

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Count a request in, or refuse it at once; never blocks (safe in the event loop)."""
        with self._lock:
            if self.admitted >= self.limit:
                raise Busy(
                    f"the reader is busy ({self.computing} asks computing, "
                    f"{self.limit - self.computing} waiting); retry in {RETRY_AFTER_S} s"
                )
            self.admitted += 1
        try:
            yield
        finally:
            with self._lock:
                self.admitted -= 1

    @contextmanager
    def compute(self) -> Iterator[None]:
        """Wait for a computing slot (blocks: call from a worker thread)."""
        with self._slots:
            yield
