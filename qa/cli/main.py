"""The ``qa`` command: serve, search, ask, index, add, delete, eval.

Each command parses its arguments, calls the service (or the engine), and prints; errors
become one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from qa.cli import agents, backup, feeds, fit, render
from qa.cli.client import Client, ServiceBusy, ServiceError, ServiceUnreachable
from qa.errors import QAError

if TYPE_CHECKING:
    from qa.settings import Settings

DEFAULT_URL = "http://127.0.0.1:8000"
SEEDS = Path("seeds")
# Documents embedded and written at a time with --ray: the actors live for the whole run,
# so a chunk is small; a failure loses at most one, and a rerun resumes after the last.
RAY_CHUNK = 500


def _settings(args: argparse.Namespace, **extra: object):
    from qa.settings import Settings

    values = {k: v for k, v in extra.items() if v is not None}
    if getattr(args, "data_dir", None):
        values["data_dir"] = Path(args.data_dir)
    return Settings(**values)  # type: ignore[arg-type]


def default_corpus(data_dir: Path, settings: Settings | None = None) -> Path | None:
    """Without --corpus or QA_CORPUS: seeds/ for a new data directory or one built from
    seeds/; a directory built from another folder (``qa index DIR``) is served as it is.
    The same for a Qdrant store (``QA_BACKEND=qdrant``). Where there is no seeds/ folder
    (outside the repository), none: the index starts empty and documents come from
    ``qa add``, ``qa index`` or the API."""
    import sqlite3

    if not SEEDS.is_dir():
        return None

    if settings is not None and settings.backend == "qdrant":
        from index.backend import BackendUnavailable
        from index.qdrant.backend import synced_from

        try:
            synced = synced_from(
                SEEDS,
                url=settings.qdrant_url,
                api_key=settings.qdrant_api_key,
                path=settings.qdrant_path,
                prefix=settings.qdrant_collection,
            )
        except BackendUnavailable as exc:
            raise QAError(str(exc)) from None
        return SEEDS if synced is not False else None

    store = data_dir / "store.sqlite3"
    if not store.exists():
        return SEEDS
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
            sources = {row[0] for row in db.execute("SELECT DISTINCT source FROM documents")}
    except sqlite3.Error:
        return SEEDS  # the engine reports what is wrong with the store when it opens it
    from_seeds = {f"corpus:{SEEDS.resolve()}", "corpus"}
    return SEEDS if not sources or sources & from_seeds else None


def preflight(data_dir: Path, host: str, port: int) -> None:
    """Fail in one line before the models load (seconds) when the server could not start."""
    import socket

    from index.local.datadir import DataDirInUse, check_free

    try:
        check_free(data_dir)
    except DataDirInUse as exc:
        raise QAError(str(exc)) from None
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

    settings = _settings(args, corpus=Path(args.corpus) if args.corpus else None)
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


def _local_engine(args: argparse.Namespace, reader: bool, sync: bool = True):  # type: ignore[no-untyped-def]
    """The engine of a data directory, here; ``sync``: keep its corpus folder in step first."""
    from index.local.datadir import DataDirInUse, check_free
    from qa.engine import Engine

    corpus = getattr(args, "corpus", None)
    settings = _settings(args, corpus=Path(corpus) if corpus else None, reader=reader)
    if settings.backend == "local":
        try:
            check_free(settings.data_dir)  # in under a second, before any model loads
        except DataDirInUse:
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


def cmd_search(args: argparse.Namespace) -> int:
    if args.local:
        with _local_engine(args, reader=False) as engine:
            reply = engine.search(args.question, args.k, **_dates(args)).model_dump()
    else:
        reply = Client(args.url, api_key=args.api_key).search(args.question, args.k, **_dates(args))
    _print(reply, args.json, render.passages)
    return 0


def _dates(args: argparse.Namespace) -> dict[str, str | None]:
    return {"published_after": args.published_after, "published_before": args.published_before}


def cmd_ask(args: argparse.Namespace) -> int:
    if args.file:
        return _ask_file(args)
    if not args.question:
        raise QAError("give a question, or --file FILE with one question per line")
    if args.local:
        with _local_engine(args, reader=True) as engine:
            reply = engine.ask(args.question, args.top_k, args.max_answers, **_dates(args)).model_dump()
    else:
        client = Client(args.url, api_key=args.api_key)
        reply = client.ask(args.question, args.top_k, args.max_answers, **_dates(args))
    _print(reply, args.json, render.answers)
    return 0


def _ask_file(args: argparse.Namespace) -> int:
    """One question per line of a file (``-``: standard input), asked in batches of
    ``MAX_BATCH``; with --json, one JSON reply per line. Lines are split at newlines only
    (a U+2028 inside a question stays in it); a line that cannot be a question is named by
    its number and skipped, and the exit code says some were."""
    from qa.schemas import MAX_BATCH

    name = "<stdin>" if args.file == "-" else args.file
    try:
        raw = (
            sys.stdin.buffer.read(MAX_QUESTIONS_FILE + 1)
            if args.file == "-"
            else _read_regular(Path(args.file), MAX_QUESTIONS_FILE)
        )
        if len(raw) > MAX_QUESTIONS_FILE:
            raise QAError(f"{name}: more than {MAX_QUESTIONS_FILE:,} bytes of questions; split the file")
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise QAError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    questions, bad = question_lines(text)
    for line, reason in bad:
        print(f"qa: {name}:{line}: {reason}; skipped", file=sys.stderr)
    if not questions:
        raise QAError(f"{name}: no questions in it")
    engine = _local_engine(args, reader=True) if args.local else None
    client = None if engine else Client(args.url)
    failed = len(bad)
    try:
        for lo in range(0, len(questions), MAX_BATCH):
            part = questions[lo : lo + MAX_BATCH]
            texts = [q for _, q in part]
            if engine is not None:
                replies = [r.model_dump() for r in engine.ask_batch(texts, args.top_k, args.max_answers)]
            else:
                assert client is not None
                replies = _ask_part(client, name, part, args)
            for reply in replies:
                if reply is None:
                    failed += 1
                elif args.json:
                    print(json_line(reply))
                else:
                    print(f"Q: {reply['question']}")
                    _print(reply, False, render.answers)
    finally:
        if engine is not None:
            engine.close()
    if failed:
        print(f"qa: {failed} line(s) of {name} were not asked", file=sys.stderr)
    return 1 if failed else 0


MAX_QUESTIONS_FILE = 10_000_000


def json_line(reply: dict) -> str:
    """One JSON Lines record: U+2028 and U+2029 escaped, since many line readers (Python's
    ``str.splitlines`` among them) end a line there."""
    return json.dumps(reply, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def question_lines(text: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(line number, question) for each question line, and (line number, reason) for each
    line that cannot be one. Blank lines are neither."""
    from qa.schemas import MAX_QUESTION_CHARS

    good, bad = [], []
    for number, line in enumerate(text.split("\n"), start=1):
        question = line.strip()
        if not question:
            continue
        if len(question) > MAX_QUESTION_CHARS:
            bad.append(
                (number, f"the question is {len(question):,} characters; the limit is {MAX_QUESTION_CHARS:,}")
            )
        else:
            good.append((number, question))
    return good, bad


def _ask_part(client: Client, name: str, part: list[tuple[int, str]], args: argparse.Namespace) -> list:
    """Replies to a batch; when the service refuses it, each question alone, so that the
    one it refuses is named by its line and the others are still answered."""
    try:
        return client.ask_batch([q for _, q in part], args.top_k, args.max_answers)
    except ServiceError as exc:
        if exc.status >= 500 or exc.status == 429:  # the service's trouble, not a line's
            raise
    replies: list = []
    for line, question in part:
        try:
            replies.append(client.ask(question, args.top_k, args.max_answers))
        except ServiceError as exc:
            if exc.status >= 500 or exc.status == 429:
                raise
            print(f"qa: {name}:{line}: {exc.detail}; skipped", file=sys.stderr)
            replies.append(None)
    return replies


def _read_regular(path: Path, limit: int) -> bytes:
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


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``--shard 2/4`` -> (1, 4): the second of four (1-based on the command line)."""
    if not text:
        return None
    try:
        number, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise QAError(f"--shard {text!r}: give I/N, e.g. 1/4 (this driver takes shard I of N)") from None
    if not 1 <= number <= count:
        raise QAError(f"--shard {text!r}: I must be between 1 and N")
    return number - 1, count


def _index_in_a_child(args: argparse.Namespace) -> int:
    """``qa index --ray``: the driver runs in a child process whose output (its own and
    what Ray prints into it: lost workers, a lost head) goes to a log. Ray can end a driver
    abruptly (its head lost: "Failed to connect to GCS", then an abort that no Python
    handler sees); the parent then says so in one line. What the driver has to say comes
    back in its ``qa:`` lines and a summary file."""
    import subprocess
    import tempfile

    log_path = Path(tempfile.gettempdir()) / f"qa-index-ray-{os.getpid()}.log"
    summary_path = log_path.with_suffix(".summary")
    summary_path.unlink(missing_ok=True)
    env = {**os.environ, "QA_RAY_DRIVER": "1", "QA_RAY_SUMMARY": str(summary_path)}
    env.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", "20")  # give up on a lost head in 20 s
    with open(log_path, "w", encoding="utf-8") as log_file:
        code = subprocess.call(
            [sys.executable, "-m", "qa.cli", *args.argv], env=env, stdout=log_file, stderr=log_file
        )
    lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    said = [line for line in lines if line.startswith(("qa: ", "skipped "))]
    summary = summary_path.read_text(encoding="utf-8") if summary_path.exists() else ""
    summary_path.unlink(missing_ok=True)
    if code == 0:
        lost = any(line.startswith("qa: ") and "were lost" in line for line in said)
        for line in said:
            print(
                f"{line} (Ray's log: {log_path})" if lost and "were lost" in line else line, file=sys.stderr
            )
        print(summary, end="")
        if not lost:
            log_path.unlink(missing_ok=True)
        return 0
    if said and said[-1].startswith("qa: "):
        print(f"{said[-1]} (Ray's log: {log_path})", file=sys.stderr)
    else:
        how = f"signal {-code}" if code < 0 else f"exit {code}"
        print(
            f"qa: the Ray run stopped before it finished ({how}; the cluster's head may have gone): "
            f"the documents written are whole; run the same command again to resume (Ray's log: {log_path})",
            file=sys.stderr,
        )
    return 1


def cmd_index(args: argparse.Namespace) -> int:
    from qa.engine import Engine

    if args.ray and not os.environ.get("QA_RAY_DRIVER") and getattr(args, "argv", None) is not None:
        return _index_in_a_child(args)
    skipped: list[tuple[Path, str]] | None = [] if args.skip_invalid else None
    shard = parse_shard(args.shard)
    with Engine(_settings(args, reader=False)) as engine:
        if reason := engine.index.preparing():  # a model change: the store is re-embedded first
            print(f"qa: {reason}; waiting for it", file=sys.stderr)
            engine.index.wait_prepared()
        if args.ray:
            from index.ray_ingest import RayEmbed, RayUnavailable

            try:
                with RayEmbed(
                    engine.embedder.name,
                    engine.embedder.dim,
                    args.ray,
                    args.ray_workers,
                    args.ray_threads,
                    gpus_per_worker=args.ray_gpus,
                    start_timeout=args.ray_timeout,
                    batch_timeout=args.ray_timeout,
                ) as embed:
                    added, removed = engine.sync(
                        args.directory, skipped=skipped, embed=embed, chunk=RAY_CHUNK, shard=shard
                    )
                    if embed.lost:
                        print(
                            f"qa: {embed.lost} embedding actor(s) were lost during the run; their batches "
                            "were embedded by the others",
                            file=sys.stderr,
                        )
            except RayUnavailable as exc:
                raise QAError(str(exc)) from None
        else:
            added, removed = engine.sync(args.directory, skipped=skipped, shard=shard)
        health = engine.health()
    for path, reason in skipped or []:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    n = len(skipped or [])
    part = f" (shard {shard[0] + 1} of {shard[1]})" if shard else ""
    summary = (
        f"{_count(added, 'document')} indexed{part}, {removed} removed"
        + (f", {n} file{'' if n == 1 else 's'} skipped" if n else "")
        + f"; {health.documents} documents, {health.passages} passages in {engine.settings.data_dir}/"
    )
    if os.environ.get("QA_RAY_SUMMARY"):  # a Ray driver in a child: its stdout is the log
        Path(os.environ["QA_RAY_SUMMARY"]).write_text(summary + "\n", encoding="utf-8")
    else:
        print(summary)
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from index.text.formats import MULTI, binary_kind, format_of, not_a_format

    fields = {"title": args.title, "published": args.published, "source": args.source}
    fields["url"] = args.article_url
    given = {k: v for k, v in fields.items() if v is not None}
    if given and len(args.files) > 1:
        raise QAError(f"--{next(iter(given))} names one article: give one file with it")
    client = Client(args.url, api_key=args.api_key)
    for name in args.files:
        path = Path(name)
        raw = _read_regular(path, args.max_bytes)
        if len(raw) > args.max_bytes:
            raise QAError(
                f"{path}: larger than {args.max_bytes:,} bytes, the service's document limit "
                "(QA_MAX_DOCUMENT_BYTES; --max-bytes if the server allows more)"
            )
        fmt = format_of(path.name)
        if fmt is None:  # a file without a known extension is read as text, unless it is binary
            what = binary_kind(raw)
            if what is not None:
                raise QAError(not_a_format(str(path), what))
            fmt = "text"
        try:
            if fmt in MULTI:
                if given:
                    raise QAError(
                        f"{path}: a {fmt} file carries each article's fields itself; "
                        f"drop --{next(iter(given))}"
                    )
                if args.strict:  # checked whole before any part is sent, as the server checks a part
                    _check_whole(path, raw, fmt)
                replies = []
                for part, numbers in _file_parts(raw, fmt):
                    reply = client.import_file(
                        path.name, part, replace=args.replace, strict=args.strict, wait=False
                    )
                    if "job_id" in reply:
                        reply = follow_job(client, reply, str(path))
                    replies += reply["documents"]
                    for refused in reply.get("refused", []):
                        print(
                            f"{path}: {_original_line(refused['entry'], numbers)} left out: "
                            f"{refused['reason']}",
                            file=sys.stderr,
                        )
            else:
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise QAError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
                replies = [client.add(path.stem, text, replace=args.replace, format=fmt, **given)]
        except ServiceError as exc:
            if exc.status == 409:
                said = exc.detail.split(" (PUT ")[0]  # the HTTP hint; the CLI has its own
                raise QAError(f"{path}: {said} (use --replace to overwrite it)") from None
            raise
        for reply in replies:
            notes = [reply[k] for k in ("status", "warning") if reply.get(k) and reply[k] != "added"]
            note = f" ({'; '.join(notes)})" if notes else ""
            n = reply["passages"]
            print(f"{reply['doc_id']}: {n} passage{'' if n == 1 else 's'}{note}")
        if len(replies) > 1:
            tally = Counter(reply.get("status", "added") for reply in replies)
            print(f"{path}: " + ", ".join(f"{tally[s]} {s}" for s in ("added", "replaced", "unchanged")))
    return 0


def _check_whole(path: Path, raw: bytes, fmt: str) -> None:
    """Refuse a file with a bad entry or line before any part of it is sent (``--strict``)."""
    from index.text.formats import read_document
    from index.text.raw import CorpusError

    try:
        read_document(path.name, raw, fmt)
    except CorpusError as exc:
        raise QAError(f"{path}: {exc} (nothing was sent)") from None


def follow_job(client: Client, job: dict, label: str, poll_s: float = 0.5, patience_s: float = 120.0) -> dict:
    """Wait for a background import to end, a progress bar on a terminal; its documents and
    refused entries as the import's own reply gives them. While the job runs this never
    gives up; it stops only when the service stays unreachable for ``patience_s``."""
    from tqdm import tqdm

    bar = tqdm(total=job.get("documents_total") or 0, desc=label, unit="doc", disable=not sys.stderr.isatty())
    lost_since = None
    try:
        while job["state"] in ("queued", "running"):
            time.sleep(poll_s)
            try:
                job = client.job(job["job_id"])
                lost_since = None
            except (ServiceBusy, ServiceUnreachable) as exc:
                lost_since = lost_since or time.monotonic()
                if time.monotonic() - lost_since > patience_s:
                    raise QAError(
                        f"{label}: lost the service for {patience_s:.0f} s while its import ran ({exc}); "
                        f"ask GET /jobs/{job['job_id']} later"
                    ) from None
                continue
            bar.total = job.get("documents_total") or bar.total
            bar.n = job.get("documents_done", 0)
            bar.refresh()
    finally:
        bar.close()
    if job["state"] == "failed":
        raise QAError(f"{label}: {job.get('error') or 'the import failed'}")
    return {"documents": job.get("documents", []), "refused": job.get("refused", [])}


# JSON Lines documents per request: a large export goes in parts (each checked whole).
JSONL_PART = 500


def _file_parts(raw: bytes, fmt: str) -> list[tuple[bytes, list[int]]]:
    """A JSON Lines file in parts of ``JSONL_PART`` lines, each with the file's line numbers
    of its lines; any other file whole."""
    if fmt != "jsonl":
        return [(raw, [])]
    lines = [(n, line) for n, line in enumerate(raw.split(b"\n"), start=1) if line.strip()]
    parts = [lines[lo : lo + JSONL_PART] for lo in range(0, len(lines), JSONL_PART)]
    return [(b"\n".join(line for _, line in part), [n for n, _ in part]) for part in parts] or [(raw, [])]


def _original_line(entry: str, numbers: list[int]) -> str:
    """ "line 3" of a part, as the line of the whole file it is."""
    kind, _, n = entry.partition(" ")
    if kind == "line" and n.isdigit() and 0 < int(n) <= len(numbers):
        return f"line {numbers[int(n) - 1]}"
    return entry


def cmd_delete(args: argparse.Namespace) -> int:
    client = Client(args.url, api_key=args.api_key)
    for doc_id in args.doc_ids:
        client.delete(doc_id)
        print(f"{doc_id}: deleted")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from qa.evaluation import evaluate

    return evaluate.main(args)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("newsqa")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _print(reply: dict, as_json: bool, fmt: Callable[[dict, bool], str]) -> None:
    if as_json:
        print(json.dumps(reply, indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(fmt(reply, sys.stdout.isatty() and "NO_COLOR" not in os.environ))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qa", description="Question answering over a news corpus.")
    parser.add_argument("--version", action="version", version=f"qa (newsqa) {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    default_url = os.environ.get("QA_URL", DEFAULT_URL)
    url_help = "service URL (env QA_URL)"

    def connection(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", default=default_url, help=url_help)
        p.add_argument(
            "--api-key",
            default=os.environ.get("QA_API_KEY"),
            help="the service's API key, sent as 'Authorization: Bearer' (env QA_API_KEY)",
        )

    def dates(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--published-after", metavar="DATE", help="only articles published on or after (2021-07-05)"
        )
        p.add_argument("--published-before", metavar="DATE", help="only articles published on or before")

    p = sub.add_parser("serve", help="start the HTTP service (builds the index on first start)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    p.add_argument(
        "--corpus",
        help="folder of news files to keep in step (default: QA_CORPUS, or seeds/ unless the "
        "data dir was built from another folder with `qa index`)",
    )
    p.add_argument("--data-dir", help="index folder (default: QA_DATA_DIR or data/)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("search", help="ranked passages for a question")
    p.add_argument("question")
    p.add_argument("-k", type=int, default=5, help="passages to return (1-50, default 5)")
    dates(p)
    connection(p)
    p.add_argument("--json", action="store_true", help="print the raw JSON reply")
    _local_arguments(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="answers with citations for a question")
    p.add_argument("question", nargs="?", help="a question in plain English, quoted")
    p.add_argument("--file", help="ask every line of this file instead (- for standard input)")
    p.add_argument("--top-k", type=int, default=5, help="passages to read, 1 to 50 (default 5)")
    p.add_argument("--max-answers", type=int, default=3, help="answers to show at most, 1 to 20 (default 3)")
    dates(p)
    connection(p)
    p.add_argument("--json", action="store_true", help="print the raw JSON reply")
    _local_arguments(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser(
        "index",
        help="(re)build the index from a folder of news files (.txt/.md, .html, .rss/.atom/.xml, .jsonl)",
    )
    p.add_argument("directory", type=Path)
    p.add_argument("--data-dir", help="index folder (default: QA_DATA_DIR or data/)")
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="leave out files that cannot be documents (not UTF-8, binary, bad names) and list them",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="embed passages on Ray workers: a cluster's address (ray://host:10001 or host:6379), "
        "or none for a local Ray on 127.0.0.1 (pip install 'newsqa[scale]')",
    )
    p.add_argument("--ray-workers", type=int, help="embedding actors (default: the cluster's CPUs / threads)")
    p.add_argument("--ray-threads", type=int, default=1, help="CPU threads per embedding actor")
    p.add_argument(
        "--ray-gpus",
        type=float,
        default=0.0,
        help="GPUs per embedding actor (0: embed on CPUs; 1: one GPU each)",
    )
    p.add_argument(
        "--ray-timeout",
        type=float,
        default=300.0,
        help="seconds to wait for the actors to be placed, and for any one batch (default 300)",
    )
    p.add_argument(
        "--shard",
        metavar="I/N",
        help="index only shard I of N of the folder (by doc_id): run N drivers side by side, one shard each",
    )
    p.set_defaults(func=cmd_index)

    p = sub.add_parser(
        "add",
        help="add news files to a running service: text (id: the file name), HTML, "
        "RSS/Atom feeds, JSON Lines",
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--replace", action="store_true", help="overwrite documents with the same id")
    p.add_argument(
        "--strict",
        action="store_true",
        help="refuse a whole feed or JSON Lines file for one bad entry (default: leave it out, say so)",
    )
    p.add_argument("--title", help="the article's headline (one file; otherwise detected in the text)")
    p.add_argument("--published", metavar="DATE", help="its publication date, ISO 8601 (2021-07-05)")
    p.add_argument("--source", help="the outlet that published it")
    p.add_argument("--url", dest="article_url", help="its address")
    p.add_argument(
        "--max-bytes",
        type=int,
        default=int(os.environ.get("QA_MAX_DOCUMENT_BYTES", "5000000")),
        help="refuse larger files before sending them (default: the service's default limit, "
        "or QA_MAX_DOCUMENT_BYTES)",
    )
    p.add_argument("--service", dest="url", default=default_url, help=url_help)
    p.add_argument(
        "--api-key",
        default=os.environ.get("QA_API_KEY"),
        help="the service's API key (env QA_API_KEY)",
    )
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("delete", help="delete documents from a running service")
    p.add_argument("doc_ids", nargs="+", metavar="DOC_ID")
    connection(p)
    p.set_defaults(func=cmd_delete)
    feeds.register(sub, connection)
    backup.register(sub, connection, _local_engine)
    agents.register(sub, _local_engine)
    fit.register(sub)

    p = sub.add_parser(
        "eval",
        help="measure: `qa eval FILE.jsonl` end to end, `qa eval squad FILE` the reader alone, "
        "`qa eval open-squad FILE` the open-book benchmark, `qa eval news DIR` real news pages, "
        "`qa eval articles DIR` the headline and date read from each page",
    )
    p.add_argument("target", help="a questions .jsonl file, 'squad', 'open-squad', 'news' or 'articles'")
    p.add_argument(
        "file",
        nargs="?",
        help="with 'squad' or 'open-squad': a SQuAD v1.1 JSON file; with 'news': the folder of "
        "news_dev.jsonl, ground-truth.json and pages/ (default ../shared/eval/news)",
    )
    p.add_argument(
        "--mode",
        choices=("text", "pages", "both"),
        default="both",
        help="news: index the bodies as text, import the HTML pages, or both",
    )
    p.add_argument(
        "--misses", action="store_true", help="news: list every question missed; articles: every field"
    )
    p.add_argument("--corpus", default="seeds")
    p.add_argument("--data-dir")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument(
        "--limit",
        type=int,
        default=0,
        help="only the first N questions (open-squad: N answerable and N unanswerable, sampled)",
    )
    p.add_argument("--seed", type=int, default=0, help="open-squad: how articles are split and sampled")
    p.add_argument(
        "--on-topic",
        type=int,
        default=500,
        help="open-squad: on-topic questions without an answer, each way (0: none)",
    )
    p.add_argument("--json", help="open-squad, news: also write the figures to this JSON file")
    p.add_argument("--retrieval-only", action="store_true")
    p.set_defaults(func=cmd_eval)
    return parser


def _local_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--local", action="store_true", help="run the engine here, without a server")
    p.add_argument(
        "--corpus",
        help="with --local: folder of news files (default: seeds/, unless the data dir was "
        "built from another folder)",
    )
    p.add_argument("--data-dir", help="with --local: index folder")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        # `qa ... | head`: the reader left; say nothing more, like other Unix tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except ServiceBusy as exc:
        print(f"qa: {exc}", file=sys.stderr)
    except ServiceUnreachable as exc:
        print(f"qa: {exc}. Start it with `qa serve` (or set --url / QA_URL).", file=sys.stderr)
    except ServiceError as exc:
        print(f"qa: the service refused the request: {exc.detail}", file=sys.stderr)
    except QAError as exc:
        print(f"qa: {exc}", file=sys.stderr)
    except ValidationError as exc:  # a QA_* setting that cannot be taken
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            print(f"qa: setting QA_{where.upper()}: {error['msg']}", file=sys.stderr)
    except KeyboardInterrupt:
        print("qa: interrupted", file=sys.stderr)
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
