"""Start `qa serve` as a child process on a free port (for tests, load tests and benchmarks)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, corpus: Path, **env: str) -> tuple[subprocess.Popen, str]:
    """Start the service and wait until /health says ready; the log goes beside data_dir."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = data_dir.parent / f"{data_dir.name}-server.log"
    cmd = [sys.executable, "-m", "qa.cli", "serve", "--port", str(port), "--corpus", str(corpus)]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [*cmd, "--data-dir", str(data_dir)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
        )
    try:
        _wait_ready(url, proc, log_path)
    except BaseException:
        proc.kill()
        raise
    return proc, url


@contextmanager
def running_server(data_dir: Path, corpus: Path, **env: str) -> Iterator[str]:
    proc, url = start_server(data_dir, corpus, **env)
    try:
        yield url
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


def _wait_ready(url: str, proc: subprocess.Popen[Any], log_path: Path, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if json.loads(r.read())["ready"]:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError("server did not start:\n" + log_path.read_text())
        time.sleep(0.3)
