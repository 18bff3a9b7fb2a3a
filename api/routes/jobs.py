"""``/jobs``: background imports (``qa.intake.jobs``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from api.deps import errors_of
from qa.intake.jobs import Job, Jobs
from qa.schemas import JobList, JobOut

router = APIRouter(tags=["documents"])
JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="as the 202 of an import gave it")]
_ERRORS = errors_of(401, 404)


def get_jobs(request: Request) -> Jobs:
    jobs: Jobs = request.app.state.jobs
    return jobs


JobsDep = Annotated[Jobs, Depends(get_jobs)]


def job_out(job: Job) -> JobOut:
    return JobOut.model_validate({**job.summary(), "documents": job.documents, "refused": job.refused})


@router.get("/jobs/{job_id}", response_model=JobOut, response_model_exclude_none=True, responses=_ERRORS)
def get_job(jobs: JobsDep, job_id: JobId) -> JobOut:
    """A background import: its state (queued, running, done, failed), documents done and in
    all, its error, and when done each document's status (as the import's 201 gives them)."""
    return job_out(jobs.get(job_id))


@router.get("/jobs", response_model=JobList, response_model_exclude_none=True, responses=_ERRORS)
def list_jobs(jobs: JobsDep) -> JobList:
    """The recent background imports, newest first (without each document's status)."""
    return JobList(jobs=[JobOut.model_validate(j.summary()) for j in jobs.recent()])
