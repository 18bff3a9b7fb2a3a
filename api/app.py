"""The HTTP service: ``create_app`` wraps one Engine (given, or opened from settings)."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path as PathLib

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from mcp.server.transport_security import TransportSecuritySettings
from starlette.concurrency import run_in_threadpool

from api import errors, metrics
from api.admission import AskQueue
from api.routes import ask, documents, feeds, jobs, ops
from api.security import RequestGate, SecurityHeaders
from qa.agents import mcp
from qa.engine import Engine
from qa.intake.feeds import Feeds, Poller
from qa.intake.jobs import Jobs
from qa.settings import Settings

log = logging.getLogger("api")
STATIC = PathLib(__file__).resolve().parent / "static"


def create_app(engine: Engine | None = None, settings: Settings | None = None) -> FastAPI:
    """An app over ``engine``; without one, the engine is opened from ``settings`` (or the
    ``QA_*`` environment) at start-up and closed at shutdown."""
    settings = engine.settings if engine is not None else settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = None
        if engine is None:
            owned = await run_in_threadpool(Engine, settings)
            app.state.engine = owned
            # Questions are taken while it warms (it queues for the cores as they do).
            threading.Thread(target=owned.warm, name="warm-reader", daemon=True).start()
        app.state.feeds = Feeds(app.state.engine, allow_private=settings.feed_allow_private)
        app.state.jobs = Jobs(app.state.engine)
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(agents.session_manager.run())
            poller = None
            if settings.follow_feeds and not app.state.engine.backend.read_only:
                poller = Poller(app.state.feeds, tick_s=settings.feed_poll_tick_s)
                poller.start()
            yield
            if poller is not None:
                await run_in_threadpool(poller.stop)
            await run_in_threadpool(app.state.jobs.close)
        if owned is not None:
            owned.close()

    app = FastAPI(
        title="News QA",
        version="0.1.0",
        description="Question answering over a news corpus, with exact citations.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics.Metrics()
    # As many asks compute at once as the compute gate has slots (cores / threads per call).
    app.state.ask_queue = AskQueue(settings.compute_slots(), settings.max_waiting_asks)
    if engine is not None:
        app.state.engine = engine
    # Outermost last: CORS (answers preflights), metrics (counts everything, 500s included),
    # then the gate (API key before any body is read, body size and time limits).
    app.add_middleware(
        RequestGate,
        api_key=settings.api_key,
        protect_reads=settings.protect_reads,
        max_body_bytes=3 * settings.max_document_bytes + 65_536,  # JSON escapes at most triple text
        body_timeout=settings.body_timeout,
    )
    app.add_middleware(metrics.RequestMetrics, metrics=app.state.metrics, fastapi_app=app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(SecurityHeaders)  # on every response, the gate's refusals included
    errors.install(app)
    for routes in (ops, ask, documents, feeds, jobs):
        app.include_router(routes.router)
    # MCP at /mcp (streamable HTTP, stateless: any replica answers any call). Its callers hold
    # the key when reads are protected, so they may write then, or when no key guards writes.
    agents = mcp.build(lambda: app.state.engine, allow_writes=not settings.api_key or settings.protect_reads)
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*", *settings.mcp_allowed_hosts]
    security = TransportSecuritySettings(allowed_hosts=hosts, allowed_origins=[f"http://{h}" for h in hosts])
    served = agents.streamable_http_app(
        streamable_http_path="/mcp", stateless_http=True, json_response=True, transport_security=security
    )
    app.router.routes.extend(served.routes)
    _page(app)
    return app


def _page(app: FastAPI) -> None:
    """The web page at ``/`` (plain HTML, CSS and JavaScript from ``api/static``; it calls
    the API with URLs relative to itself, so it works under any mount prefix)."""

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
