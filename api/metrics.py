"""Prometheus text-format metrics: request counts and latency histograms by route."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict

from fastapi import FastAPI, Request, Response
from starlette.routing import Match

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


def route_of(request: Request) -> str:
    """The route template ("/documents/{doc_id}"), so that ids do not explode the labels."""
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match == Match.FULL:
            return str(getattr(route, "path", request.url.path))
    return "unmatched"


def install(app: FastAPI, metrics: Metrics) -> None:
    @app.middleware("http")
    async def _measure(request: Request, call_next):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        response: Response = await call_next(request)
        seconds = time.perf_counter() - t0
        route = route_of(request)
        metrics.observe(request.method, route, response.status_code, seconds)
        # One JSON line per request; the route template only, never the question or body.
        log.info(
            json.dumps(
                {
                    "method": request.method,
                    "route": route,
                    "status": response.status_code,
                    "ms": round(seconds * 1000, 2),
                }
            )
        )
        return response
