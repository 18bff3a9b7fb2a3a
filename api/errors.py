"""Domain errors -> HTTP status codes with a clear ``detail``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.admission import RETRY_AFTER_S, Busy
from qa.errors import (
    DocumentExists,
    DocumentNotFound,
    DocumentTooLarge,
    InvalidDocument,
    InvalidQuestion,
    InvalidRequest,
    QAError,
    ServiceUnavailable,
    StorageFull,
    StoreNotReady,
    StoreUnavailable,
)

log = logging.getLogger("api")

STATUS: list[tuple[type[QAError], int]] = [
    (DocumentNotFound, 404),
    (DocumentExists, 409),
    (DocumentTooLarge, 413),
    (InvalidDocument, 400),
    (InvalidQuestion, 400),
    (InvalidRequest, 400),
    (ServiceUnavailable, 503),
    (StorageFull, 507),
]


def status_for(exc: QAError) -> int:
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 400)


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors without the input they quote: a reply never echoes a 2,000-character
    question or a 5 MB document back, nor text that cannot be encoded (a lone surrogate)."""
    out = []
    for error in exc.errors():
        message = str(error.get("msg", "invalid value"))
        if error.get("type") == "string_unicode":
            message = "not valid Unicode text (a lone UTF-16 surrogate such as \\ud800?)"
        location = [part for part in error.get("loc", ()) if isinstance(part, (str, int))]
        out.append({"loc": location, "msg": message, "type": str(error.get("type", ""))})
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(QAError)
    async def _qa_error(_: Request, exc: QAError) -> JSONResponse:
        # ``error`` names the core's class, so that a client raises the same (qa.Client).
        return JSONResponse({"detail": str(exc), "error": type(exc).__name__}, status_code=status_for(exc))

    @app.exception_handler(Busy)
    async def _busy(_: Request, exc: Busy) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc)}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)}
        )

    @app.exception_handler(StoreUnavailable)
    async def _backend(_: Request, exc: StoreUnavailable) -> JSONResponse:
        # The store (a Qdrant cluster) is down, unreachable or answering nonsense: retry later,
        # not a bad request. Its address and its reply go to the log, not to the client.
        if isinstance(exc, StoreNotReady):  # its message is written for clients: progress, no address
            return JSONResponse(
                {"detail": str(exc), "error": "ServiceUnavailable"},
                status_code=503,
                headers={"Retry-After": "30"},
            )
        log.warning("the document store is unavailable: %s", exc)
        detail = "the document store is unavailable right now; try again in a few seconds"
        return JSONResponse(
            {"detail": detail, "error": "ServiceUnavailable"}, status_code=503, headers={"Retry-After": "5"}
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc)
        broken = [e for e in errors if e["type"] == "string_unicode"]
        if broken:  # the same answer as the engine's own check of text
            field = ".".join(str(part) for part in broken[0]["loc"][1:]) or "the body"
            detail = f"{field} holds a lone UTF-16 surrogate; send valid Unicode"
            return JSONResponse({"detail": detail}, status_code=400)
        return JSONResponse({"detail": errors}, status_code=422)
