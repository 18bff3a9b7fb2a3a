"""Questions: ``/ask``, ``/ask/batch`` and ``/search``."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import StringConstraints
from starlette.concurrency import run_in_threadpool

from api.deps import AskQueueDep, EngineDep, errors_of
from qa.schemas import (
    MAX_K,
    MAX_QUESTION_CHARS,
    NOT_BLANK,
    AskBatchRequest,
    AskBatchResponse,
    AskRequest,
    AskResponse,
    DateText,
    SearchRequest,
    SearchResponse,
)

log = logging.getLogger("api")
router = APIRouter(tags=["questions"])
MetaFilter = Annotated[str, StringConstraints(pattern=r"^[^=]+=")]
BATCH_PART = 8  # questions of a batch read together between checks that the client is still there


def parse_meta(pairs: list[str] | None) -> dict[str, str] | None:
    """``["desk=asia", "lang=en"]`` -> ``{"desk": "asia", "lang": "en"}``."""
    if not pairs:
        return None
    return dict(pair.split("=", 1) for pair in pairs)


@router.post("/ask", response_model=AskResponse, responses=errors_of(400, 404, 503))
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


@router.post("/ask/batch", response_model=AskBatchResponse, responses=errors_of(400, 404, 503))
async def ask_batch(
    engine: EngineDep, queue: AskQueueDep, body: AskBatchRequest, request: Request
) -> AskBatchResponse | Response:
    """Several questions in one request (up to 64), read in shared batches: faster than
    one request each. Each result is what `POST /ask` would return. Read a few questions
    at a time; when the client has gone, the rest is not computed."""

    def part(questions: list[str]) -> list[AskResponse]:
        with queue.compute():
            return engine.ask_batch(
                questions,
                body.top_k,
                body.max_answers,
                body.doc_ids,
                body.metadata,
                published_after=body.published_after,
                published_before=body.published_before,
                part_of=len(body.questions),  # each part reads its share of the window budget
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


@router.get("/search", response_model=SearchResponse, responses=errors_of(400, 404))
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


@router.post("/search", response_model=SearchResponse, responses=errors_of(400, 404))
def search_filtered(engine: EngineDep, request: SearchRequest) -> SearchResponse:
    """`GET /search` with a JSON body: metadata filters keep their JSON type (`true`, `1`,
    `null` are not the strings `"true"`, `"1"`, `"null"`)."""
    return engine.search(
        request.query,
        request.k,
        doc_ids=request.doc_ids,
        metadata=request.metadata,
        published_after=request.published_after,
        published_before=request.published_before,
    )
