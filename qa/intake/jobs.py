"""Imports in the background: a large file is taken at once (202 and a job id) and written
by one worker thread, a chunk of documents at a time, while its client watches the progress
(``GET /jobs/{job_id}``).

A job's summary is kept in the data directory's state as it runs, so that a job cut short by
a restart is reported failed when the service starts again (each of its documents is whole
or absent: a chunk is one write). The full result (every document's status) is kept in memory
for the ``KEEP`` most recent jobs.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from qa.errors import DocumentNotFound, QAError, ServiceUnavailable

log = logging.getLogger(__name__)

JOBS_STATE = "import_jobs"
KEEP = 100  # jobs remembered
MAX_WAITING = 8  # jobs queued behind the running one (each holds its file in memory)
INTERRUPTED = "interrupted by a restart of the service: each document is whole or absent; send the file again"


class JobNotFound(DocumentNotFound):
    """No job with that id (404)."""


@dataclass
class Job:
    job_id: str
    name: str
    state: str = "queued"  # queued, running, done, failed
    created: str = ""
    finished: str | None = None
    documents_done: int = 0
    documents_total: int | None = None  # known once the file is read
    error: str | None = None
    documents: list[dict[str, Any]] = field(default_factory=list)  # each document's status, when done
    refused: list[dict[str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        del out["documents"], out["refused"]
        return out


@dataclass
class Jobs:
    """The background imports of one engine."""

    engine: Any  # qa.engine.Engine
    _jobs: OrderedDict[str, Job] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _worker: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-job")
    )

    def __post_init__(self) -> None:
        """Jobs a previous run left queued or running are reported failed."""
        if getattr(self.engine.backend, "read_only", False):
            return
        interrupted = False
        for summary in self._stored():
            job = Job(**{**summary, "documents": [], "refused": []})
            if job.state in ("queued", "running"):
                job.state, job.error, job.finished = "failed", INTERRUPTED, _now()
                interrupted = True
            self._jobs[job.job_id] = job
        if interrupted:  # written back only when a start has something to report
            self._save()

    def submit(self, name: str, raw: bytes, fmt: str | None, replace: bool, strict: bool) -> Job:
        with self._lock:
            waiting = sum(j.state == "queued" for j in self._jobs.values())
            if waiting >= MAX_WAITING:
                raise ServiceUnavailable(f"{waiting} imports are waiting already: send this one later")
            job = Job(uuid.uuid4().hex[:16], name, created=_now())
            self._jobs[job.job_id] = job
            while len(self._jobs) > KEEP:
                self._jobs.popitem(last=False)
        self._save()
        self._worker.submit(self._run, job, raw, fmt, replace, strict)
        return job

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFound(f"no import job {job_id!r} (the last {KEEP} are kept)")
        return job

    def recent(self) -> list[Job]:
        return list(reversed(self._jobs.values()))

    def close(self, wait: bool = True) -> None:
        self._worker.shutdown(wait=wait, cancel_futures=True)

    def _run(self, job: Job, raw: bytes, fmt: str | None, replace: bool, strict: bool) -> None:
        job.state = "running"
        self._save()
        refused: list[tuple[str, str]] | None = None if strict else []
        last_saved = 0.0

        def progress(done: int, total: int) -> None:
            nonlocal last_saved
            job.documents_done, job.documents_total = done, total
            if time.monotonic() - last_saved > 2.0:  # the summary in the state, now and then
                self._save()
                last_saved = time.monotonic()

        try:
            written = self.engine.import_file(job.name, raw, fmt, replace, refused, progress=progress)
        except QAError as exc:
            job.state, job.error = "failed", str(exc)
        except Exception as exc:
            log.exception("import job %s (%s) failed", job.job_id, job.name)
            job.state, job.error = "failed", f"internal error: {type(exc).__name__}"
        else:
            job.state = "done"
            job.documents = [w.model_dump(exclude_none=True) for w in written]
            job.documents_done = job.documents_total = len(written)
        job.refused = [{"entry": e, "reason": why} for e, why in refused or []]
        job.finished = _now()
        self._save()

    def _stored(self) -> list[dict[str, Any]]:
        try:
            value = json.loads(self.engine.backend.get_state(JOBS_STATE) or "[]")
        except ValueError:
            return []
        return (
            [v for v in value if isinstance(v, dict) and "job_id" in v and "name" in v]
            if isinstance(value, list)
            else []
        )

    def _save(self) -> None:
        if getattr(self.engine.backend, "read_only", False):
            return
        with self._lock:
            summaries = [j.summary() for j in self._jobs.values()]
        try:
            self.engine.backend.set_state(JOBS_STATE, json.dumps(summaries))
        except Exception as exc:
            log.warning("could not record the import jobs (%s)", exc)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
