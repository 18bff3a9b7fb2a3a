"""``qa serve``: the HTTP service, after the checks that would stop it (port, data
directory) have passed in under a second."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from qa.cli.common import settings_from
from qa.errors import QAError


def preflight(data_dir: Path, host: str, port: int) -> None:
    """Fail in one line before the models load (seconds) when the server could not start."""
    import socket

    from qa.stores.opening import check_data_dir_free

    check_data_dir_free(data_dir)
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # As uvicorn binds: connections of a stopped server that linger in TIME_WAIT must not
        # stop its restart; a socket still listening on the port does (Linux semantics).
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
            probe.listen(1)
        except OSError as exc:
            raise QAError(f"cannot listen on {host}:{port}: {exc.strerror} (use --port)") from None


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from qa.stores.opening import default_corpus

    settings = settings_from(args, corpus=Path(args.corpus) if args.corpus else None)
    if settings.corpus is None:
        settings.corpus = default_corpus(settings.data_dir, settings)
    if settings.corpus is not None and not settings.corpus.is_dir():
        raise QAError(f"corpus folder {settings.corpus} does not exist (use --corpus DIR)")
    preflight(settings.data_dir, args.host, args.port)
    serving = f"{settings.corpus}/ from " if settings.corpus else ""
    print(
        f"Serving {serving}{settings.data_dir}/ at http://{args.host}:{args.port} (docs at /docs)",
        file=sys.stderr,
    )
    fresh = settings.backend == "local" and not (settings.data_dir / "store.sqlite3").exists()
    if settings.corpus is None and fresh:
        print(
            "No corpus folder: the index starts empty. Add news with `qa add FILE...`, "
            "`qa index FOLDER` (before serving) or POST /documents.",
            file=sys.stderr,
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs index builds at its own level
    # uvicorn's access log would print each URL, question text included; api.requests logs
    # method, route template, status and latency instead.
    # The app factory reads its settings from the QA_* environment; the shell imports no
    # api module itself (the CLI and the API are two shells over the same core).
    os.environ["QA_DATA_DIR"] = str(settings.data_dir)
    if settings.corpus is not None:
        os.environ["QA_CORPUS"] = str(settings.corpus)
    else:
        os.environ.pop("QA_CORPUS", None)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        access_log=False,
        timeout_keep_alive=5,  # idle keep-alive connections are closed
        http="api.serving:HeadsInTime",  # h11, and a request head is whole within 10 s
        h11_max_incomplete_event_size=65_536,  # request line and headers
        timeout_graceful_shutdown=10,
    )
    return 0
