"""``qa index`` (a folder, here, optionally on Ray), ``qa add`` (files, through the
service) and ``qa delete``."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from qa.cli.common import client, count, dump, read_regular, settings_from
from qa.client import Client
from qa.errors import DocumentExists, QAError, ServiceBusy, ServiceUnreachable
from qa.schemas import DocumentIn, JobOut

# Documents embedded and written at a time with --ray: the actors live for the whole run,
# so a chunk is small; a failure loses at most one, and a rerun resumes after the last.
RAY_CHUNK = 500


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
    with Engine(settings_from(args, reader=False)) as engine:
        if reason := engine.preparing():  # a model change: the store is re-embedded first
            print(f"qa: {reason}; waiting for it", file=sys.stderr)
            engine.wait_prepared()
        if args.ray:
            from qa.stores.opening import ray_embedding

            with ray_embedding(
                engine.embedder.name,
                engine.embedder.dim,
                args.ray,
                workers=args.ray_workers,
                threads_per_worker=args.ray_threads,
                gpus_per_worker=args.ray_gpus,
                start_timeout=args.ray_timeout,
                batch_timeout=args.ray_timeout,
            ) as embed:
                added, removed = engine.sync(
                    args.directory, skipped=skipped, embed=embed, chunk=args.ray_chunk, shard=shard
                )
                if embed.lost:
                    print(
                        f"qa: {embed.lost} embedding actor(s) were lost during the run; their batches "
                        "were embedded by the others",
                        file=sys.stderr,
                    )
        else:
            added, removed = engine.sync(args.directory, skipped=skipped, shard=shard)
        health = engine.health()
    for path, reason in skipped or []:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    n = len(skipped or [])
    part = f" (shard {shard[0] + 1} of {shard[1]})" if shard else ""
    summary = (
        f"{count(added, 'document')} indexed{part}, {removed} removed"
        + (f", {n} file{'' if n == 1 else 's'} skipped" if n else "")
        + f"; {health.documents} documents, {health.passages} passages in {engine.settings.data_dir}/"
    )
    if os.environ.get("QA_RAY_SUMMARY"):  # a Ray driver in a child: its stdout is the log
        Path(os.environ["QA_RAY_SUMMARY"]).write_text(summary + "\n", encoding="utf-8")
    else:
        print(summary)
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    fields = {"title": args.title, "published": args.published, "source": args.source}
    fields["url"] = args.article_url
    given = {k: v for k, v in fields.items() if v is not None}
    if given and len(args.files) > 1:
        raise QAError(f"--{next(iter(given))} names one article: give one file with it")
    with client(args) as remote:
        for name in args.files:
            _add_file(remote, Path(name), given, args)
    return 0


def _add_file(remote: Client, path: Path, given: dict[str, Any], args: argparse.Namespace) -> None:
    from qa.intake.files import MULTI, check_whole, file_format

    raw = read_regular(path, args.max_bytes)
    if len(raw) > args.max_bytes:
        raise QAError(
            f"{path}: larger than {args.max_bytes:,} bytes, the service's document limit "
            "(QA_MAX_DOCUMENT_BYTES; --max-bytes if the server allows more)"
        )
    fmt = file_format(str(path), raw)  # a file of no known format is text, unless it is binary
    try:
        if fmt in MULTI:
            if given:
                raise QAError(
                    f"{path}: a {fmt} file carries each article's fields itself; drop --{next(iter(given))}"
                )
            if args.strict:  # checked whole before any part is sent, as the server checks a part
                try:
                    check_whole(path.name, raw, fmt)
                except QAError as exc:
                    raise QAError(f"{path}: {exc} (nothing was sent)") from None
            replies: list[dict[str, Any]] = []
            for part, numbers in _file_parts(raw, fmt):
                sent = remote.submit_import(path.name, part, replace=args.replace, strict=args.strict)
                reply = follow_job(remote, dump(sent), str(path)) if isinstance(sent, JobOut) else dump(sent)
                replies += reply["documents"]
                for refused in reply.get("refused", []):
                    print(
                        f"{path}: {_original_line(refused['entry'], numbers)} left out: {refused['reason']}",
                        file=sys.stderr,
                    )
        else:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise QAError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
            doc = DocumentIn.model_validate({"doc_id": path.stem, "text": text, "format": fmt, **given})
            replies = [dump(remote.write(doc, replace=args.replace))]
    except DocumentExists as exc:
        said = str(exc).split(" (PUT ")[0]  # the HTTP hint; the CLI has its own
        raise QAError(f"{path}: {said} (use --replace to overwrite it)") from None
    for reply in replies:
        notes = [reply[k] for k in ("status", "warning") if reply.get(k) and reply[k] != "added"]
        note = f" ({'; '.join(notes)})" if notes else ""
        n = reply["passages"]
        print(f"{reply['doc_id']}: {n} passage{'' if n == 1 else 's'}{note}")
    if len(replies) > 1:
        tally = Counter(reply.get("status", "added") for reply in replies)
        print(f"{path}: " + ", ".join(f"{tally[s]} {s}" for s in ("added", "replaced", "unchanged")))


def follow_job(
    remote: Client, job: dict[str, Any], label: str, poll_s: float = 0.5, patience_s: float = 120.0
) -> dict[str, Any]:
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
                job = dump(remote.job(job["job_id"]))
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
    with client(args) as remote:
        for doc_id in args.doc_ids:
            remote.delete(doc_id)
            print(f"{doc_id}: deleted")
    return 0
