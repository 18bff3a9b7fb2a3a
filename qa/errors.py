"""Domain errors of the core; each edge (HTTP, CLI) translates them for its users."""

from __future__ import annotations


class QAError(Exception):
    """Base class: a request the engine cannot serve, with a message fit for a user."""


class InvalidQuestion(QAError):
    pass


class InvalidRequest(QAError):
    pass


class InvalidDocument(QAError):
    pass


class DocumentTooLarge(InvalidDocument):
    pass


class DocumentNotFound(QAError):
    pass


class Unauthorized(QAError):
    """The service wants an API key this request does not carry (HTTP 401)."""


class DocumentExists(QAError):
    pass


class ServiceUnavailable(QAError):
    """A part the request needs (the reader) is not loaded."""


class DataDirError(QAError):
    """The data directory cannot be opened as asked (in use by another writer, read-only
    without an index, not creatable)."""


class ReadOnly(ServiceUnavailable):
    """A write to a data directory this process cannot write."""


class StorageFull(QAError):
    """The disk holding the data is full: the write was not made (HTTP 507)."""
