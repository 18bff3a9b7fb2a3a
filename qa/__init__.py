"""Question answering over a news corpus: the public Python API.

``from qa import Engine`` is the embedding entry point. Names are imported on first use so
that the CLI client starts without loading the index and model libraries.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qa.client import Client
    from qa.engine import Engine
    from qa.errors import DocumentExists, DocumentNotFound, InvalidDocument, InvalidQuestion, QAError
    from qa.settings import Settings

_EXPORTS = {
    "Engine": "qa.engine",
    "Client": "qa.client",
    "Settings": "qa.settings",
    "QAError": "qa.errors",
    "InvalidQuestion": "qa.errors",
    "InvalidDocument": "qa.errors",
    "DocumentNotFound": "qa.errors",
    "DocumentExists": "qa.errors",
}
__all__ = [
    "Client",
    "DocumentExists",
    "DocumentNotFound",
    "Engine",
    "InvalidDocument",
    "InvalidQuestion",
    "QAError",
    "Settings",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'qa' has no attribute {name!r}")
