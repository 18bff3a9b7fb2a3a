"""Imports in the background (``?wait=false``, or a large file): 202 and a job to follow,
progress as it runs, a restart reported as the job's failure."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from qa.engine import Engine
from qa.intake.jobs import INTERRUPTED, JOBS_STATE, Jobs
from qa.settings import Settings


def _lines(n: int, bad_at: int | None = None) -> bytes:
    rows = []
    for i in range(1, n + 1):
        text = f"Bulletin {i}: the ferry to island {i} left on time this morning, the harbour office said."
        rows.append({"doc_id": f"bulk-{i}"} if i == bad_at else {"doc_id": f"bulk-{i}", "text": text})
    return "\n".join(json.dumps(r) for r in rows).encode()


def _wait(client: TestClient, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    seen = []
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}").json()
        seen.append(job["documents_done"])
        if job["state"] in ("done", "failed"):
            job["seen"] = seen
            return job
        time.sleep(0.05)
    raise AssertionError("the job did not end within 60 s")


def test_a_background_import_is_followed_to_its_end(tmp_path: Path, embedder: Any) -> None:
    settings = Settings(data_dir=tmp_path / "d", reader=False, background_import_bytes=20_000)
    engine = Engine(settings, embedder=embedder)
    with TestClient(create_app(engine)) as client:
        small = client.post("/documents/import?name=one.jsonl", content=_lines(3))
        assert small.status_code == 201  # a small file: answered when written
        taken = client.post("/documents/import?name=day.jsonl&wait=false", content=_lines(45, bad_at=7))
        assert taken.status_code == 202 and taken.headers["location"].endswith(taken.json()["job_id"])
        job = _wait(client, taken.json()["job_id"])
        assert job["state"] == "done" and (job["documents_done"], job["documents_total"]) == (44, 44)
        statuses = {d["doc_id"]: d["status"] for d in job["documents"]}
        assert statuses["bulk-1"] == "unchanged" and statuses["bulk-45"] == "added" and len(statuses) == 44
        assert job["refused"] == [{"entry": "line 7", "reason": "'text' must be non-empty text"}]
        assert client.get("/health").json()["documents"] == 44
        big = _lines(300)  # over QA_BACKGROUND_IMPORT_BYTES: a job without asking
        assert len(big) > settings.background_import_bytes
        auto = client.post("/documents/import?name=big.jsonl", content=big)
        assert auto.status_code == 202
        done = _wait(client, auto.json()["job_id"])
        assert done["state"] == "done" and done["documents_done"] == 300
        assert any(0 < n < 300 for n in done["seen"]) or len(done["seen"]) <= 2  # progress between
        strict = client.post("/documents/import?name=bad.jsonl&wait=false&strict=true", content=_lines(5, 3))
        failed = _wait(client, strict.json()["job_id"])
        assert failed["state"] == "failed" and "line 3" in failed["error"]
        listed = client.get("/jobs").json()["jobs"]
        assert [j["state"] for j in listed] == ["failed", "done", "done"]
        assert client.get("/jobs/0123456789abcdef").status_code == 404
    engine.close()


def test_a_job_cut_short_by_a_restart_is_reported_failed(tmp_path: Path, embedder: Any) -> None:
    engine = Engine(Settings(data_dir=tmp_path / "d", reader=False), embedder=embedder)
    cut = {"job_id": "0123456789abcdef", "name": "day.jsonl", "state": "running", "documents_done": 20}
    engine.backend.set_state(JOBS_STATE, json.dumps([cut]))  # what a killed process leaves
    jobs = Jobs(engine)
    job = jobs.get("0123456789abcdef")
    assert (job.state, job.error, job.documents_done) == ("failed", INTERRUPTED, 20)
    jobs.close()
    engine.close()
