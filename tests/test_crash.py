"""SIGKILL in the middle of ingesting many documents loses nothing that was acknowledged."""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tests.conftest import running_server, start_server

WORDS = ["river", "border", "convoy", "harbour", "valley", "bridge", "market", "school", "clinic", "airport"]


def _doc(i: int) -> tuple[str, str]:
    # Each document carries a unique token so a search can find exactly it.
    return f"crash-{i:04d}", (
        f"Report {i}: officials confirmed that the {WORDS[i % 10]} project zq{i:04d}x near the "
        f"{WORDS[(i * 7) % 10]} was inspected by a team of engineers on Monday morning.\n\n"
        f"They said work on zq{i:04d}x would resume once the weather improved next week."
    )


def _post(url: str, doc_id: str, text: str) -> int:
    body = json.dumps({"doc_id": doc_id, "text": text}).encode()
    request = urllib.request.Request(
        url + "/documents", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def _get(url: str, path: str) -> dict:
    with urllib.request.urlopen(url + path, timeout=30) as response:
        return dict(json.loads(response.read()))


def test_kill_during_ingestion_then_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"QA_READER": "false"}
    proc, url = start_server(data, **env)
    acknowledged: list[int] = []
    stop = threading.Event()

    def ingest() -> None:
        for i in range(10_000):
            if stop.is_set():
                return
            try:
                if _post(url, *_doc(i)) == 201:
                    acknowledged.append(i)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                return  # the server died mid-request: that document was not acknowledged

    writer = threading.Thread(target=ingest)
    writer.start()
    deadline = time.time() + 120
    while len(acknowledged) < 25 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    stop.set()
    writer.join(timeout=60)
    assert len(acknowledged) >= 25

    with running_server(data, **env) as restarted:
        health = _get(restarted, "/health")
        assert health["ready"] and health["documents"] >= 5 + len(acknowledged)
        for i in acknowledged:
            doc_id, text = _doc(i)
            assert _get(restarted, f"/documents/{doc_id}")["text"] == text
            q = urllib.parse.urlencode({"q": f"zq{i:04d}x", "k": 1})
            assert _get(restarted, f"/search?{q}")["passages"][0]["doc_id"] == doc_id
