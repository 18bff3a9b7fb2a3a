"""The shells a person uses: the ``qa`` command (``main``), its HTTP client and the terminal
rendering of replies. Commands parse, call the service or the ``Engine``, and print."""

from qa.cli.main import main

__all__ = ["main"]
