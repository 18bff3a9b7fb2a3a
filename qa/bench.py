"""Latency of ``GET /search`` and ``POST /ask`` over real HTTP on 127.0.0.1.

    python -m qa.bench [--corpus seeds] [--rounds 5]

Starts the service in-process (uvicorn on a free port), sends each question of the set
once per round with the query-embedding cache cleared, and prints p50/p95/p99 in ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

QUESTIONS = [
    "How many troops did Tajikistan mobilize?",
    "Who is the president of Tajikistan?",
    "Which base did American troops leave?",
    "What did the Kremlin say about Tajikistan?",
    "How many districts does the Taliban control?",
    "Where did Afghan soldiers flee to?",
    "Who is the national security adviser of Afghanistan?",
    "When will US forces leave Afghanistan?",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentiles(ms: list[float]) -> str:
    ordered = sorted(ms)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return (
        f"p50 {statistics.median(ordered):6.1f}  p95 {pick(0.95):6.1f}  p99 {pick(0.99):6.1f}  (n={len(ms)})"
    )


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    from api.app import create_app
    from qa.engine import Engine
    from qa.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=Path("seeds"))
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--top-k", type=int, default=5)
    args = parser.parse_args(argv)

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="qa-bench-"))
    engine = Engine(Settings(data_dir=data_dir, corpus=args.corpus))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(engine), port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    conn = http.client.HTTPConnection("127.0.0.1", port)

    def timed(method: str, path: str, body: dict | None = None) -> float:
        engine.clear_cache()
        t0 = time.perf_counter()
        conn.request(
            method,
            path,
            body=json.dumps(body) if body else None,
            headers={"Content-Type": "application/json"},
        )
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {response.status}")
        return (time.perf_counter() - t0) * 1000

    for q in QUESTIONS:  # warm-up
        timed("GET", "/search?" + urllib.parse.urlencode({"q": q, "k": 5}))
    search = [
        timed("GET", "/search?" + urllib.parse.urlencode({"q": q, "k": 5}))
        for _ in range(args.rounds)
        for q in QUESTIONS
    ]
    print(f"GET /search k=5       {_percentiles(search)}")
    if engine.reader is not None:
        for q in QUESTIONS:
            timed("POST", "/ask", {"question": q, "top_k": args.top_k})
        ask = [
            timed("POST", "/ask", {"question": q, "top_k": args.top_k})
            for _ in range(args.rounds)
            for q in QUESTIONS
        ]
        print(f"POST /ask top_k={args.top_k}    {_percentiles(ask)}")
    server.should_exit = True
    engine.close()


if __name__ == "__main__":
    main()
