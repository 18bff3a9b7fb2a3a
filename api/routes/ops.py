"""Operations: ``/health`` and ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from api.deps import EngineDep
from qa.errors import StoreUnavailable
from qa.schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Health)
def health(engine: EngineDep) -> Health:
    """Readiness, document and passage counts, and whether the reader is loaded."""
    return engine.health()


@router.get("/metrics", response_class=PlainTextResponse)
def prometheus(engine: EngineDep, request: Request) -> str:
    """Prometheus text format: requests and latency by route and status, corpus size
    (left out while the store is unreachable: metrics do not depend on it)."""
    try:
        health = engine.health()
        gauges = {"qa_documents": health.documents, "qa_passages": health.passages}
    except StoreUnavailable:
        gauges = {}
    return str(request.app.state.metrics.render(gauges))
