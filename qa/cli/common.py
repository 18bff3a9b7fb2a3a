"""What the commands share: settings from their arguments, the engine of a data directory
here, the client of a running service, reading a file safely, printing a reply."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.client import Client
from qa.errors import QAError

if TYPE_CHECKING:
    from qa.engine import Engine
    from qa.settings import Settings

DEFAULT_URL = "http://127.0.0.1:8000"


def settings_from(args: argparse.Namespace, **extra: object) -> Settings:
    from qa.settings import Settings

    values = {k: v for k, v in extra.items() if v is not None}
    if getattr(args, "data_dir", None):
        values["data_dir"] = Path(args.data_dir)
    return Settings(**values)  # type: ignore[arg-type]


def local_engine(args: argparse.Namespace, reader: bool, sync: bool = True) -> Engine:
    """The engine of a data directory, here; ``sync``: keep its corpus folder in step first."""
    from qa.engine import Engine
    from qa.stores.opening import DataDirInUseError, check_data_dir_free, default_corpus

    corpus = getattr(args, "corpus", None)
    settings = settings_from(args, corpus=Path(corpus) if corpus else None, reader=reader)
    if settings.backend == "local":
        try:
            check_data_dir_free(settings.data_dir)  # in under a second, before any model loads
        except DataDirInUseError:
            # A server holds it: read what it has committed, beside it, without a lock.
            print(
                f"qa: {settings.data_dir}/ is held by a running server: reading it read-only "
                "(its corpus is not synced from here; `qa add` writes through the server)",
                file=sys.stderr,
            )
            return Engine(settings.model_copy(update={"shared_read": True, "corpus": None}))
    if settings.corpus is None and sync:
        settings.corpus = default_corpus(settings.data_dir, settings)
    return Engine(settings)


def client(args: argparse.Namespace, timeout: float = 60.0) -> Client:
    """The client of the service at ``--url`` (or ``--service``), with ``--api-key``."""
    return Client(args.url, api_key=getattr(args, "api_key", None), timeout=timeout)


def dump(model: Any) -> Any:
    """A reply model as the JSON the service sends (what renderers and --json print)."""
    if isinstance(model, list):
        return [dump(m) for m in model]
    return model.model_dump(mode="json")


def dates(args: argparse.Namespace) -> dict[str, Any]:
    """The date filters of ``--published-after`` / ``--published-before``."""
    return {"published_after": args.published_after, "published_before": args.published_before}


def read_regular(path: Path, limit: int) -> bytes:
    """At most ``limit`` + 1 bytes of a regular file: a FIFO, a device (``/dev/zero``) or a
    folder is refused before anything is read, so nothing blocks or fills memory."""
    import stat

    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise QAError(f"{path}: no such file") from None
    except OSError as exc:
        raise QAError(f"{path}: cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise QAError(
            f"{path} is a folder: add its files (`qa add {path}/*.txt`) or index it (`qa index {path}`)"
        )
    if not stat.S_ISREG(mode):
        raise QAError(f"{path}: not a regular file (a pipe, device or socket); give a file")
    try:
        with open(path, "rb") as fh:
            return fh.read(limit + 1)
    except OSError as exc:
        raise QAError(f"{path}: cannot read ({exc.strerror})") from None


def count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def show(reply: dict[str, Any], as_json: bool, fmt: Callable[[dict[str, Any], bool], str]) -> None:
    if as_json:
        print(json.dumps(reply, indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(fmt(reply, sys.stdout.isatty() and "NO_COLOR" not in os.environ))
