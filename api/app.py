"""The HTTP service: ``create_app`` wraps one Engine (given, or opened from settings)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path as PathLib
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Query, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import StringConstraints
from starlette.concurrency import run_in_threadpool

from api import errors, metrics
from api.admission import AskQueue
from api.deps import AskQueueDep, EngineDep
from api.routes import feeds as feeds_routes
from api.routes import jobs as jobs_routes
from api.routes.jobs import job_out
from api.security import RequestGate, SecurityHeaders, require_write_key
from index.backend import BackendUnavailable
from index.hardware import available_cores
from qa.agents import mcp
from qa.engine import Engine
from qa.intake.feeds import Feeds, Poller
from qa.intake.jobs import Jobs
from qa.schemas import (
    ADDED,
    MAX_K,
    MAX_QUESTION_CHARS,
    NOT_BLANK,
    AskBatchRequest,
    AskBatchResponse,
    AskRequest,
    AskResponse,
    DateText,
    DocumentIn,
    DocumentList,
    DocumentOut,
    DocumentReplace,
    DocumentsImported,
    DocumentWritten,
    EntryRefused,
    Health,
    JobOut,
    Message,
    SearchResponse,
    no_passages_warning,
)
from qa.settings import Settings

log = logging.getLogger("api")
MetaFilter = Annotated[str, StringConstraints(pattern=r"^[^=]+=")]
DocId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
WRITE = [Depends(require_write_key)]
DEFAULT_PAGE, MAX_PAGE = 1000, 10_000
BATCH_PART = 8  # questions of a batch read together between checks that the client is still there
STATIC = PathLib(__file__).resolve().parent / "static"


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Message} for code in codes}


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
        app.state.feeds = Feeds(app.state.engine, allow_private=settings.feed_allow_private)
        app.state.jobs = Jobs(app.state.engine)
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(agents.session_manager.run())
            poller = None
            if settings.follow_feeds and not app.state.engine.index.read_only:
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
    computing = max(1, available_cores() // settings.compute_threads())
    app.state.ask_queue = AskQueue(computing, settings.max_waiting_asks)
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
    _routes(app)
    app.include_router(feeds_routes.router)
    app.include_router(jobs_routes.router)
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


# Content types of POST /documents/import and the format each names (others: by file name).
IMPORT_TYPES = {
    "text/plain": "text",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/rss+xml": "feed",
    "application/atom+xml": "feed",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/jsonlines": "jsonl",
}


def article_fields(doc: DocumentIn | DocumentReplace) -> dict[str, Any]:
    """The article fields and format of a written document, as ``Engine.add`` takes them."""
    return {"published": doc.published, "source": doc.source, "url": doc.url, "format": doc.format}


def parse_meta(pairs: list[str] | None) -> dict[str, str] | None:
    """``["desk=asia", "lang=en"]`` -> ``{"desk": "asia", "lang": "en"}``."""
    if not pairs:
        return None
    return dict(pair.split("=", 1) for pair in pairs)


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


def _routes(app: FastAPI) -> None:
    @app.get("/health", response_model=Health)
    def health(engine: EngineDep) -> Health:
        """Readiness, document and passage counts, and whether the reader is loaded."""
        return engine.health()

    @app.get("/metrics", response_class=PlainTextResponse)
    def prometheus(engine: EngineDep) -> str:
        """Prometheus text format: requests and latency by route and status, corpus size
        (left out while the store is unreachable: metrics do not depend on it)."""
        try:
            health = engine.health()
            gauges = {"qa_documents": health.documents, "qa_passages": health.passages}
        except BackendUnavailable:
            gauges = {}
        return str(app.state.metrics.render(gauges))

    @app.post("/ask", response_model=AskResponse, responses=_errors(400, 404, 503))
    def ask(engine: EngineDep, queue: AskQueueDep, request: AskRequest) -> AskResponse:
        """Answers to a question, best first, each with a calibrated score and every citation
        (document, paragraph, exact character offsets, context); `answers` is empty when the
        corpus does not hold the answer. The passages read are returned too. 503 with
        Retry-After when the reader's queue is full."""
        with queue.admit(), queue.compute():
            return engine.ask(
                request.question,
                request.top_k,
                request.max_answers,
                request.doc_ids,
                request.metadata,
                published_after=request.published_after,
                published_before=request.published_before,
            )

    @app.post("/ask/batch", response_model=AskBatchResponse, responses=_errors(400, 404, 503))
    async def ask_batch(
        engine: EngineDep, queue: AskQueueDep, body: AskBatchRequest, request: Request
    ) -> AskBatchResponse | Response:
        """Several questions in one request (up to 64), read in shared batches: faster than
        one request each. Each result is what `POST /ask` would return. Read a few questions
        at a time; when the client has gone, the rest is not computed."""

        # Each part reads its share of the request's window budget.
        n = len(body.questions)
        share = engine.settings.max_windows_per_request * min(BATCH_PART, n) // n

        def part(questions: list[str]) -> list[AskResponse]:
            with queue.compute():
                return engine.ask_batch(
                    questions,
                    body.top_k,
                    body.max_answers,
                    body.doc_ids,
                    body.metadata,
                    max(1, share),
                    published_after=body.published_after,
                    published_before=body.published_before,
                )

        results: list[AskResponse] = []
        with queue.admit():
            for lo in range(0, len(body.questions), BATCH_PART):
                if await request.is_disconnected():
                    log.info(
                        "ask/batch: the client left; stopped after %d of %d questions",
                        lo,
                        len(body.questions),
                    )
                    return Response(status_code=499)
                results += await run_in_threadpool(part, body.questions[lo : lo + BATCH_PART])
        return AskBatchResponse(results=results)

    @app.get("/search", response_model=SearchResponse, responses=_errors(400, 404))
    def search(
        engine: EngineDep,
        q: Annotated[
            str,
            Query(
                min_length=1,
                max_length=MAX_QUESTION_CHARS,
                description="question",
                json_schema_extra=NOT_BLANK,
            ),
        ],
        k: Annotated[int, Query(ge=1, le=MAX_K)] = 5,
        doc_id: Annotated[list[str] | None, Query(description="restrict to these documents")] = None,
        meta: Annotated[
            list[MetaFilter] | None,
            Query(description="restrict to documents whose metadata has key=value (repeatable)"),
        ] = None,
        published_after: Annotated[
            DateText | None, Query(description="only articles published on or after (ISO 8601)")
        ] = None,
        published_before: Annotated[
            DateText | None, Query(description="only articles published on or before (ISO 8601)")
        ] = None,
    ) -> SearchResponse:
        """The passages most likely to answer `q` (dense + BM25, fused), best first."""
        return engine.search(
            q,
            k,
            doc_ids=doc_id,
            metadata=parse_meta(meta),
            published_after=published_after,
            published_before=published_before,
        )

    @app.get("/documents", response_model=DocumentList, responses=_errors(404))
    def list_documents(
        engine: EngineDep,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="documents per page")] = DEFAULT_PAGE,
        after: Annotated[
            str | None,
            Query(max_length=128, description="the `next` of the previous page (the doc_id it ended on)"),
        ] = None,
        sort: Annotated[
            Literal["published", "doc_id"],
            Query(description="`published`: newest first, undated last (default); `doc_id`: by id"),
        ] = "published",
    ) -> DocumentList:
        """Documents a page at a time, newest first: id, headline, date, outlet, metadata and
        number of passages. A page holds at most `limit` documents and about 1 MB of titles
        and metadata."""
        return engine.document_page(limit, after, sort)

    @app.get("/documents/{doc_id}", response_model=DocumentOut, responses=_errors(404))
    def get_document(engine: EngineDep, doc_id: DocId) -> DocumentOut:
        """One document's full text: citation and passage offsets index into it."""
        return engine.document(doc_id)

    @app.post(
        "/documents",
        response_model=DocumentWritten,
        response_model_exclude_none=True,
        status_code=201,
        dependencies=WRITE,
        responses=_errors(400, 401, 409, 413),
    )
    def add_document(engine: EngineDep, doc: DocumentIn) -> DocumentWritten:
        """Add a document (409 if the id exists: use PUT to replace it). Headline, date and
        outlet not given are detected in the text where it states them; `format: html` takes
        an HTML page and stores its main text."""
        n = engine.add(doc.doc_id, doc.text, doc.title, doc.metadata, **article_fields(doc))
        return DocumentWritten(doc_id=doc.doc_id, passages=n, warning=no_passages_warning(n))

    @app.post(
        "/documents/import",
        response_model=DocumentsImported,
        response_model_exclude_none=True,
        status_code=201,
        dependencies=WRITE,
        responses={
            200: {
                "model": DocumentsImported,
                "description": "nothing new: every document unchanged or replaced",
            },
            202: {"model": JobOut, "description": "taken in the background: follow it at GET /jobs/{job_id}"},
            **_errors(400, 401, 409, 413, 503),
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {t: {"schema": {"type": "string"}} for t in IMPORT_TYPES},
            }
        },
    )
    async def import_documents(
        engine: EngineDep,
        request: Request,
        response: Response,
        name: Annotated[
            str,
            Query(
                min_length=1,
                max_length=200,
                description="the file's name: its extension says the format unless Content-Type does "
                "(.txt, .html, .rss/.atom/.xml, .jsonl); a text or HTML file's stem is its doc_id",
            ),
        ],
        replace: Annotated[bool, Query(description="overwrite documents with the same ids")] = False,
        strict: Annotated[
            bool,
            Query(description="refuse the whole file for one bad entry (default: leave the entry out)"),
        ] = False,
        wait: Annotated[
            bool | None,
            Query(
                description="false: answer 202 with a job at once (GET /jobs/{job_id}); default: wait, "
                "unless the file is larger than QA_BACKGROUND_IMPORT_BYTES"
            ),
        ] = None,
    ) -> DocumentsImported | JSONResponse:
        """Every document of one file, sent as the body: an HTML page, an RSS or Atom feed (one
        document per entry, with its date and link), JSON Lines (`{"doc_id", "text", "title",
        "published", "source", "url", "metadata"}` per line) or plain text. The whole file is
        checked before anything is written: a bad entry or line is left out and listed in
        `refused`, the others are written; with `strict=true` it is one 400 naming it and
        nothing is written. Sending a file again is cheap: each document is `added`,
        `replaced` (a feed's or JSON Lines file's changed entry; a changed page needs
        `replace=true`) or `unchanged` (nothing embedded). 201 when a document was added,
        else 200."""
        fmt = IMPORT_TYPES.get(request.headers.get("content-type", "").split(";")[0].strip().lower())
        raw = await request.body()
        if wait is False or (wait is None and len(raw) > engine.settings.background_import_bytes):
            job = app.state.jobs.submit(name, raw, fmt, replace, strict)
            accepted = job_out(job).model_dump(mode="json", exclude_none=True)
            return JSONResponse(accepted, status_code=202, headers={"Location": f"jobs/{job.job_id}"})
        refused: list[tuple[str, str]] | None = None if strict else []
        written = await run_in_threadpool(engine.import_file, name, raw, fmt, replace, refused)
        if not any(d.status == ADDED for d in written):
            response.status_code = 200
        return DocumentsImported(
            documents=written,
            refused=[EntryRefused(entry=e, reason=why) for e, why in refused or []],
        )

    @app.put(
        "/documents/{doc_id}",
        response_model=DocumentWritten,
        response_model_exclude_none=True,
        dependencies=WRITE,
        responses=_errors(400, 401, 413),
    )
    def replace_document(engine: EngineDep, doc_id: DocId, doc: DocumentReplace) -> DocumentWritten:
        """Add or replace a document under this id."""
        n = engine.add(doc_id, doc.text, doc.title, doc.metadata, replace=True, **article_fields(doc))
        return DocumentWritten(doc_id=doc_id, passages=n, warning=no_passages_warning(n))

    @app.delete("/documents/{doc_id}", status_code=204, dependencies=WRITE, responses=_errors(401, 404))
    def delete_document(engine: EngineDep, doc_id: DocId) -> Response:
        """Delete a document and its passages from every index."""
        engine.delete(doc_id)
        return Response(status_code=204)
