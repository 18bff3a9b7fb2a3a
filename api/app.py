"""The HTTP service: ``create_app`` wraps one Engine (given, or opened from settings)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from api import errors
from api.deps import EngineDep
from qa.engine import Engine
from qa.schemas import (
    MAX_K,
    MAX_QUESTION_CHARS,
    AskRequest,
    AskResponse,
    DocumentIn,
    DocumentList,
    DocumentOut,
    DocumentWritten,
    Health,
    SearchResponse,
)
from qa.settings import Settings

DocId = Annotated[str, Path(min_length=1, max_length=128)]


def create_app(engine: Engine | None = None, settings: Settings | None = None) -> FastAPI:
    """An app over ``engine``; without one, the engine is opened from ``settings`` (or the
    ``QA_*`` environment) at start-up and closed at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = None
        if engine is None:
            owned = await run_in_threadpool(Engine, settings or Settings())
            app.state.engine = owned
        yield
        if owned is not None:
            owned.close()

    app = FastAPI(
        title="News QA",
        version="0.1.0",
        description="Question answering over a news corpus, with exact citations.",
        lifespan=lifespan,
    )
    if engine is not None:
        app.state.engine = engine
    errors.install(app)
    _routes(app)
    return app


def _routes(app: FastAPI) -> None:
    @app.get("/health", response_model=Health)
    def health(engine: EngineDep) -> Health:
        return engine.health()

    @app.get("/search", response_model=SearchResponse)
    def search(
        engine: EngineDep,
        q: Annotated[str, Query(min_length=1, max_length=MAX_QUESTION_CHARS, description="question")],
        k: Annotated[int, Query(ge=1, le=MAX_K)] = 5,
        doc_id: Annotated[list[str] | None, Query(description="restrict to these documents")] = None,
    ) -> SearchResponse:
        return engine.search(q, k, doc_ids=doc_id)

    @app.post("/ask", response_model=AskResponse)
    def ask(engine: EngineDep, request: AskRequest) -> AskResponse:
        return engine.ask(
            request.question, request.top_k, request.max_answers, request.doc_ids, request.metadata
        )

    @app.get("/documents", response_model=DocumentList)
    def list_documents(engine: EngineDep) -> DocumentList:
        return DocumentList(documents=engine.documents())

    @app.get("/documents/{doc_id}", response_model=DocumentOut)
    def get_document(engine: EngineDep, doc_id: DocId) -> DocumentOut:
        return engine.document(doc_id)

    @app.post("/documents", response_model=DocumentWritten, status_code=201)
    def add_document(engine: EngineDep, doc: DocumentIn) -> DocumentWritten:
        n = engine.add(doc.doc_id, doc.text, doc.title, doc.metadata)
        return DocumentWritten(doc_id=doc.doc_id, passages=n)

    @app.delete("/documents/{doc_id}", status_code=204)
    def delete_document(engine: EngineDep, doc_id: DocId) -> Response:
        engine.delete(doc_id)
        return Response(status_code=204)
