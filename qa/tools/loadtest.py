"""Mixed load against a live server: ask, search, add and delete from concurrent clients.

    python -m qa.tools.loadtest --clients 16 --seconds 30 [--url URL]

Without ``--url`` it starts ``qa serve`` on a free port over a fresh copy of the seed
corpus. Prints requests, errors, p50 and p99 latency per kind, then checks that every
acknowledged add is present and every acknowledged delete is gone. Exit code 1 on any error.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa.tools.bench import percentiles
from qa.tools.devserver import ROOT, running_server

QUESTIONS = [
    "How many troops did Tajikistan mobilize?",
    "Who is the president of Afghanistan?",
    "Which base did American troops leave?",
    "What did the Kremlin say about Tajikistan?",
    "Where did the Afghan soldiers flee?",
]


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    added: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, ms: float) -> None:
        with self.lock:
            self.latencies.setdefault(kind, []).append(ms)


def _request(conn: http.client.HTTPConnection, method: str, path: str, body: dict[str, Any] | None = None):
    conn.request(
        method,
        path,
        body=json.dumps(body) if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    response = conn.getresponse()
    return response.status, response.read()


def client(host: str, port: int, worker: int, deadline: float, tally: Tally) -> None:
    rng = random.Random(worker)
    conn = http.client.HTTPConnection(host, port, timeout=60)
    mine: list[str] = []
    n = 0
    while time.time() < deadline:
        roll = rng.random()
        t0 = time.perf_counter()
        try:
            if roll < 0.15 or (roll < 0.25 and not mine):
                n += 1
                doc_id = f"load-{worker}-{n}"
                text = (
                    f"Load test report {worker}-{n}: the convoy reached checkpoint kx{worker}q{n} "
                    "near the border on Tuesday, officials said."
                )
                kind, (status, _) = (
                    "add",
                    _request(conn, "POST", "/documents", {"doc_id": doc_id, "text": text}),
                )
                if status == 201:
                    mine.append(doc_id)
                    with tally.lock:
                        tally.added.add(doc_id)
            elif roll < 0.25:
                doc_id = mine.pop(rng.randrange(len(mine)))
                kind, (status, _) = "delete", _request(conn, "DELETE", f"/documents/{doc_id}")
                if status == 204:
                    with tally.lock:
                        tally.added.discard(doc_id)
                        tally.deleted.add(doc_id)
            elif roll < 0.6:
                q = urllib.parse.urlencode({"q": rng.choice(QUESTIONS), "k": 5})
                kind, (status, _) = "search", _request(conn, "GET", f"/search?{q}")
            else:
                body = {"question": rng.choice(QUESTIONS), "top_k": 5}
                kind, (status, _) = "ask", _request(conn, "POST", "/ask", body)
        except (OSError, http.client.HTTPException) as exc:
            with tally.lock:
                tally.errors.append(f"{type(exc).__name__}: {exc}")
            conn = http.client.HTTPConnection(host, port, timeout=60)
            continue
        tally.record(kind, (time.perf_counter() - t0) * 1000)
        if status >= 400:
            with tally.lock:
                tally.errors.append(f"{kind}: HTTP {status}")


def verify(host: str, port: int, tally: Tally) -> list[str]:
    conn = http.client.HTTPConnection(host, port, timeout=60)
    problems = []
    for doc_id in sorted(tally.added):
        if _request(conn, "GET", f"/documents/{doc_id}")[0] != 200:
            problems.append(f"acknowledged add {doc_id} is missing")
    for doc_id in sorted(tally.deleted):
        if _request(conn, "GET", f"/documents/{doc_id}")[0] != 404:
            problems.append(f"acknowledged delete {doc_id} is still there")
        q = urllib.parse.urlencode({"q": f"kx{doc_id.split('-')[1]}q{doc_id.split('-')[2]}", "k": 5})
        status, body = _request(conn, "GET", f"/search?{q}")
        if status != 200 or any(p["doc_id"] == doc_id for p in json.loads(body)["passages"]):
            problems.append(f"deleted {doc_id} still searchable")
    return problems


def run(url: str, clients: int, seconds: float) -> tuple[Tally, list[str]]:
    parsed = urllib.parse.urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    tally = Tally()
    deadline = time.time() + seconds
    threads = [threading.Thread(target=client, args=(host, port, i, deadline, tally)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return tally, verify(host, port, tally)


def report(tally: Tally, problems: list[str], seconds: float) -> str:
    lines = []
    total = sum(len(v) for v in tally.latencies.values())
    lines.append(f"requests {total} ({total / seconds:.1f}/s), errors {len(tally.errors)}")
    for kind, ms in sorted(tally.latencies.items()):
        p50, p99 = percentiles(ms)
        lines.append(f"  {kind:7s} n={len(ms):5d}  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms")
    lines.append(
        f"acknowledged adds present: {len(tally.added)}, deletes gone: {len(tally.deleted)}, "
        f"violations: {len(problems)}"
    )
    lines += [f"  {p}" for p in problems[:20]] + [f"  error: {e}" for e in tally.errors[:20]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--corpus", type=Path, default=ROOT / "seeds", help="without --url: corpus to serve")
    args = parser.parse_args(argv)
    if args.url:
        tally, problems = run(args.url, args.clients, args.seconds)
    else:
        with tempfile.TemporaryDirectory() as tmp, running_server(Path(tmp) / "data", args.corpus) as url:
            tally, problems = run(url, args.clients, args.seconds)
    print(report(tally, problems, args.seconds))
    return 1 if tally.errors or problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
