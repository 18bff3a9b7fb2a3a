"""Domain errors of the core; each edge (HTTP, CLI) translates them for its users."""

from __future__ import annotations

# The store's failures as the back ends raise them, under the core's names: the store is
# down or answering nonsense (its message names where: for logs, not clients), or there but
# not ready to answer (a model change re-embedding; its message is fit for any client).
from index.errors import BackendUnavailable, NotReady

StoreUnavailable = BackendUnavailable
StoreNotReady = NotReady


class QAError(Exception):
    """Base class: a request the engine cannot serve, with a message fit for a user.
    ``status``: the HTTP status a service answered with, when ``qa.Client`` raised it."""

    status: int | None = None


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


class ServiceUnreachable(ServiceUnavailable):
    """No service answers at the address ``qa.Client`` was given."""


class ServiceBusy(ServiceUnavailable):
    """The service did not answer within the client's timeout (a write may still complete)."""


class DataDirError(QAError):
    """The data directory cannot be opened as asked (in use by another writer, read-only
    without an index, not creatable)."""


class ReadOnly(ServiceUnavailable):
    """A write to a data directory this process cannot write."""


class StorageFull(QAError):
    """The disk holding the data is full: the write was not made (HTTP 507)."""
