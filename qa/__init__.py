"""Question answering over a news corpus: the public Python API."""

from qa.engine import Engine
from qa.errors import (
    DocumentExists,
    DocumentNotFound,
    InvalidDocument,
    InvalidQuestion,
    QAError,
)
from qa.settings import Settings

__all__ = [
    "DocumentExists",
    "DocumentNotFound",
    "Engine",
    "InvalidDocument",
    "InvalidQuestion",
    "QAError",
    "Settings",
]
