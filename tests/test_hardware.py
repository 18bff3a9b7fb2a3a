"""The compute gate: model calls never oversubscribe the cores; bulk jobs take them all."""

from __future__ import annotations

import threading
import time

import torch

from index.hardware import ComputeGate, set_threads


def test_calls_compute_at_most_cores_over_threads_at_once() -> None:
    gate = ComputeGate(threads=1, cores=2)
    running, peak, lock = 0, 0, threading.Lock()

    def call() -> None:
        nonlocal running, peak
        with gate:
            with lock:
                running += 1
                peak = max(peak, running)
            time.sleep(0.02)
            with lock:
                running -= 1

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == 2


def test_a_bulk_job_has_every_core_to_itself() -> None:
    gate = ComputeGate(threads=1, cores=2)
    set_threads(gate.threads)  # as the engine does when it starts
    entered = threading.Event()

    def call() -> None:
        with gate:
            entered.set()

    with gate.all_cores():
        assert torch.get_num_threads() == 2
        waiting = threading.Thread(target=call)
        waiting.start()
        assert not entered.wait(0.1)  # a call waits while the bulk job computes
    waiting.join(timeout=5)
    assert entered.is_set() and torch.get_num_threads() == 1


def test_a_bulk_job_is_not_starved_by_a_stream_of_calls() -> None:
    gate = ComputeGate(threads=1, cores=2)
    stop = threading.Event()
    waited: list[float] = []

    def stream() -> None:  # callers that want a slot again as soon as they free one
        while not stop.is_set():
            with gate:
                time.sleep(0.005)

    def bulk() -> None:
        t0 = time.perf_counter()
        with gate.all_cores():
            waited.append(time.perf_counter() - t0)

    callers = [threading.Thread(target=stream) for _ in range(4)]
    for t in callers:
        t.start()
    time.sleep(0.05)
    job = threading.Thread(target=bulk)
    job.start()
    job.join(timeout=3)  # with a plain semaphore it could wait for ever
    stop.set()
    for t in [*callers, job]:
        t.join(timeout=5)
    assert waited and waited[0] < 0.2  # its turn comes after the calls already queued
