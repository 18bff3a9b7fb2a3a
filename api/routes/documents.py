"""Documents: list, read, add, import, replace, delete (``/documents``) and export (``/export``)."""

from __future__ import annotations

import itertools
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.deps import WRITE, EngineDep, errors_of
from api.routes.jobs import job_out
from qa.schemas import (
    ADDED,
    MAX_CURSOR_CHARS,
    DocumentIn,
    DocumentList,
    DocumentOut,
    DocumentReplace,
    DocumentsImported,
    DocumentWritten,
    EntryRefused,
    JobOut,
)

router = APIRouter(tags=["documents"])
DocId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
DEFAULT_PAGE, MAX_PAGE = 1000, 10_000
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


@router.get("/documents", response_model=DocumentList, responses=errors_of(404))
def list_documents(
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="documents per page")] = DEFAULT_PAGE,
    after: Annotated[
        str | None,
        Query(
            max_length=MAX_CURSOR_CHARS,
            description="the `next` of the previous page (the doc_id it ended on); by doc_id, any text "
            "to list the ids after",
        ),
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


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/x-ndjson": {}},
            "description": "one document per line, as POST /documents/import takes it",
        },
        **errors_of(503),
    },
)
def export(engine: EngineDep) -> StreamingResponse:
    """Every document as JSON Lines, by doc_id: a backup. `POST /documents/import` (or `qa add
    FILE.jsonl`) restores it into an empty store or another service, embedding it again.
    Fields found in the text are left for the import to find again."""
    docs = engine.export()
    first = next(docs, None)  # a store that is down is a 503 here, before the 200 goes out
    lines = (
        d.model_dump_json(exclude_defaults=True) + "\n"
        for d in itertools.chain([first] if first else [], docs)
    )
    return StreamingResponse(
        lines,
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="documents.jsonl"'},
    )


@router.get("/documents/{doc_id}", response_model=DocumentOut, responses=errors_of(404))
def get_document(engine: EngineDep, doc_id: DocId) -> DocumentOut:
    """One document's full text: citation and passage offsets index into it."""
    return engine.document(doc_id)


@router.post(
    "/documents",
    response_model=DocumentWritten,
    response_model_exclude_none=True,
    status_code=201,
    dependencies=WRITE,
    responses=errors_of(400, 401, 409, 413),
)
def add_document(engine: EngineDep, doc: DocumentIn) -> DocumentWritten:
    """Add a document (409 if the id exists: use PUT to replace it). Headline, date and
    outlet not given are detected in the text where it states them; `format: html` takes
    an HTML page and stores its main text."""
    n = engine.add(doc.doc_id, doc.text, doc.title, doc.metadata, **article_fields(doc))
    return DocumentWritten(doc_id=doc.doc_id, passages=n)


@router.post(
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
        **errors_of(400, 401, 409, 413, 503),
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
        job = request.app.state.jobs.submit(name, raw, fmt, replace, strict)
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


@router.put(
    "/documents/{doc_id}",
    response_model=DocumentWritten,
    response_model_exclude_none=True,
    dependencies=WRITE,
    responses=errors_of(400, 401, 413),
)
def replace_document(engine: EngineDep, doc_id: DocId, doc: DocumentReplace) -> DocumentWritten:
    """Add or replace a document under this id."""
    n = engine.add(doc_id, doc.text, doc.title, doc.metadata, replace=True, **article_fields(doc))
    return DocumentWritten(doc_id=doc_id, passages=n)


@router.delete("/documents/{doc_id}", status_code=204, dependencies=WRITE, responses=errors_of(401, 404))
def delete_document(engine: EngineDep, doc_id: DocId) -> Response:
    """Delete a document and its passages from every index."""
    engine.delete(doc_id)
    return Response(status_code=204)
