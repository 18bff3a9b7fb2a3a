"""Prometheus text-format metrics: request counts and latency histograms by route."""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from collections import defaultdict
from pathlib import Path
from typing import Any

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("api.requests")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: defaultdict[tuple[str, str, int], int] = defaultdict(int)
        self.buckets: defaultdict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * len(BUCKETS))
        self.sums: defaultdict[tuple[str, str], float] = defaultdict(float)
        self.counts: defaultdict[tuple[str, str], int] = defaultdict(int)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, status)] += 1
            key = (method, route)
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self.buckets[key][i] += 1
            self.sums[key] += seconds
            self.counts[key] += 1

    def render(self, gauges: dict[str, float]) -> str:
        lines = [
            "# HELP qa_requests_total HTTP requests by route and status.",
            "# TYPE qa_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), n in sorted(self.requests.items()):
                lines.append(f'qa_requests_total{{method="{method}",route="{route}",status="{status}"}} {n}')
            lines += [
                "# HELP qa_request_seconds Request latency by route.",
                "# TYPE qa_request_seconds histogram",
            ]
            for (method, route), counts in sorted(self.buckets.items()):
                labels = f'method="{method}",route="{route}"'
                for bound, n in zip(BUCKETS, counts, strict=True):
                    lines.append(f'qa_request_seconds_bucket{{{labels},le="{bound}"}} {n}')
                lines.append(
                    f'qa_request_seconds_bucket{{{labels},le="+Inf"}} {self.counts[(method, route)]}'
                )
                lines.append(f"qa_request_seconds_sum{{{labels}}} {self.sums[(method, route)]:.6f}")
                lines.append(f"qa_request_seconds_count{{{labels}}} {self.counts[(method, route)]}")
        for name, value in gauges.items():
            lines += [f"# TYPE {name} gauge", f"{name} {value}"]
        return "\n".join(lines) + "\n"


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})


def route_of(app: Any, scope: Scope) -> str:
    """The route template ("/documents/{doc_id}"), so that ids do not explode the labels;
    paths no route knows share one label."""
    return _matching(app.router.routes, scope) or "unmatched"


def _matching(routes: Any, scope: Scope) -> str | None:
    """The path of the route among ``routes`` that takes ``scope``, looking inside included
    routers (FastAPI keeps them as one entry each, matched lazily)."""
    for route in routes:
        match, _ = route.matches(scope)
        if match != Match.FULL:
            continue
        path = getattr(route, "path", None)
        if path is not None:
            return str(path)
        inner = getattr(getattr(route, "original_router", None), "routes", None)
        found = _matching(inner, scope) if inner is not None else None
        if found is not None:
            return found
    return None


class RequestMetrics:
    """Pure ASGI middleware: counts and times every HTTP request by method, route template
    and status, and logs one JSON line per request (never the question or the body).

    It sits outside the routes' error handling, so an unexpected failure is counted and
    logged here as a 500 (its exception type and where it happened, not its message, which
    can hold user text) and answered with a JSON 500 instead of reaching the server's log
    as a traceback."""

    def __init__(self, app: ASGIApp, metrics: Metrics, fastapi_app: Any) -> None:
        self.app = app
        self.metrics = metrics
        self.fastapi_app = fastapi_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500
        started = False

        async def send_and_watch(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = int(message["status"]), True
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        except Exception as exc:
            status = 500
            where = traceback.extract_tb(exc.__traceback__)[-1]
            log.error(
                json.dumps({"error": type(exc).__name__, "at": f"{Path(where.filename).name}:{where.lineno}"})
            )
            if not started:
                body = b'{"detail":"internal error: the request was not completed; see the server log"}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
        finally:
            seconds = time.perf_counter() - t0
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            route = route_of(self.fastapi_app, scope)
            self.metrics.observe(method, route, status, seconds)
            log.info(
                json.dumps(
                    {"method": method, "route": route, "status": status, "ms": round(seconds * 1000, 2)}
                )
            )
