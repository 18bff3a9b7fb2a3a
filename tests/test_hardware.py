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


def test_the_precision_choice_is_measured_once_per_machine_and_data_dir(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Timings under load swing from 1.1x to 11x; processes sharing a data dir must agree,
    so the first one's measurement is recorded and every later one reads it."""
    import json
    import subprocess
    import sys

    from index import hardware

    speeds = iter([3.0, 1.0, 0.5])
    monkeypatch.setattr(hardware, "bf16_speedup", lambda: next(speeds))
    monkeypatch.setattr(hardware, "_measured", {})
    first = hardware.precision_choice(tmp_path)
    assert first.precision == "bf16" and first.recorded_in == str(tmp_path / "hardware.json")
    monkeypatch.setattr(hardware, "_measured", {})  # as in another process
    assert hardware.precision_choice(tmp_path).precision == "bf16"  # read, not measured (1.0)
    # Another process on the same data dir reads the same record.
    code = (
        "import sys; from index.hardware import precision_choice; "
        "print(precision_choice(sys.argv[1]).precision)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "bf16"
    # A record made on another machine (the data dir was copied) is measured again.
    record = json.loads((tmp_path / "hardware.json").read_text())
    (tmp_path / "hardware.json").write_text(json.dumps({**record, "machine": "another CPU"}))
    assert hardware.precision_choice(tmp_path).precision == "fp32"  # 1.0 < the cut-off


def test_an_engine_shows_its_precision_in_health(seed_engine) -> None:  # type: ignore[no-untyped-def]
    health = seed_engine.health()
    assert health.precision is not None and seed_engine.reader is not None
    assert health.precision.reader == seed_engine.reader.precision
    assert health.precision.embedding == seed_engine.embedder.precision
