"""Domain errors -> HTTP status codes with a clear ``detail``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from qa.errors import (
    DocumentExists,
    DocumentNotFound,
    DocumentTooLarge,
    InvalidDocument,
    InvalidQuestion,
    InvalidRequest,
    QAError,
    ServiceUnavailable,
)

STATUS: list[tuple[type[QAError], int]] = [
    (DocumentNotFound, 404),
    (DocumentExists, 409),
    (DocumentTooLarge, 413),
    (InvalidDocument, 400),
    (InvalidQuestion, 400),
    (InvalidRequest, 400),
    (ServiceUnavailable, 503),
]


def status_for(exc: QAError) -> int:
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 400)


def install(app: FastAPI) -> None:
    @app.exception_handler(QAError)
    async def _qa_error(_: Request, exc: QAError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status_for(exc))
