"""Dependency aliases shared by the routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from api.admission import AskQueue
from api.security import require_write_key
from qa.engine import Engine
from qa.schemas import Message


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


def get_ask_queue(request: Request) -> AskQueue:
    queue: AskQueue = request.app.state.ask_queue
    return queue


AskQueueDep = Annotated[AskQueue, Depends(get_ask_queue)]


# Writes need the API key (the gate has checked it; this documents the 401 in OpenAPI).
WRITE = [Depends(require_write_key)]


def errors_of(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error replies a route documents: ``{"detail", "error"}`` for each status."""
    return {code: {"model": Message} for code in codes}
