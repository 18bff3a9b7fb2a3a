"""Dependency aliases shared by the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.admission import AskQueue
from qa.engine import Engine


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


def get_ask_queue(request: Request) -> AskQueue:
    queue: AskQueue = request.app.state.ask_queue
    return queue


AskQueueDep = Annotated[AskQueue, Depends(get_ask_queue)]
