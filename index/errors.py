"""The store's failures, shared by every back end and by the core that names them to its
users (``qa.errors``): defined apart so that a client of the service imports nothing else."""

from __future__ import annotations


class BackendUnavailable(RuntimeError):
    """The store cannot be opened or reached (a message fit for a user)."""


class NotReady(BackendUnavailable):
    """The store is there but cannot answer yet (a model change being re-embedded): the
    message says why and how far along, in words fit for any client."""
