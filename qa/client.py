"""``qa.Client``: a running service, used from Python as ``qa.Engine`` is in-process.

The same methods and return types as ``Engine`` where they make sense remotely (``search``,
``ask``, ``ask_batch``, ``add``, ``import_file``, ``delete``, ``document``, ``documents``,
``export``, ``health``; and the followed feeds), the same pydantic models, and the core's exceptions
for the service's errors (the reply's ``error`` names the class). A 503 with Retry-After
(the reader's queue is full, the store is unreachable) is retried ``retries`` times, each
after the wait the service asks for (at most ``MAX_RETRY_WAIT_S``).

    with Client("http://127.0.0.1:8000", api_key="...") as client:
        reply = client.ask("How many troops did Tajikistan mobilize?")
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from qa import errors
from qa.errors import (
    DocumentTooLarge,
    InvalidDocument,
    QAError,
    ServiceBusy,
    ServiceUnavailable,
    ServiceUnreachable,
)
from qa.schemas import (
    AskBatchResponse,
    AskResponse,
    DocumentIn,
    DocumentList,
    DocumentOut,
    DocumentsImported,
    DocumentSummary,
    DocumentWritten,
    FeedList,
    FeedOut,
    Health,
    JobOut,
    SearchResponse,
)

MAX_RETRY_WAIT_S = 30.0
LARGE_BODY = 1_000_000  # a body this large that the service hangs up on was most likely too large
# The class of an error reply without an ``error`` name (an older server, a proxy), by status.
_BY_STATUS: dict[int, type[QAError]] = {
    400: errors.InvalidRequest,
    401: errors.Unauthorized,
    404: errors.DocumentNotFound,
    409: errors.DocumentExists,
    413: errors.DocumentTooLarge,
    422: errors.InvalidRequest,
    503: errors.ServiceUnavailable,
    507: errors.StorageFull,
}


class Client:
    """A client of one service at ``url`` (thread-safe; one connection pool)."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        retries: int = 2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.retries = retries
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- questions ---------------------------------------------------------------------
    def search(
        self,
        question: str,
        k: int = 5,
        doc_ids: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        published_after: str | date | None = None,
        published_before: str | date | None = None,
    ) -> SearchResponse:
        """The ``k`` passages most likely to answer ``question`` (``POST /search``: the
        filters travel as JSON, so metadata values keep their type)."""
        body = {"query": question, "k": k} | _filters(doc_ids, metadata, published_after, published_before)
        return SearchResponse.model_validate(self._call("POST", "/search", json=body))

    def ask(
        self,
        question: str,
        top_k: int = 5,
        max_answers: int = 3,
        doc_ids: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        published_after: str | date | None = None,
        published_before: str | date | None = None,
    ) -> AskResponse:
        body = _reading(top_k, max_answers, doc_ids, metadata, published_after, published_before)
        return AskResponse.model_validate(self._call("POST", "/ask", json={"question": question, **body}))

    def ask_batch(
        self,
        questions: list[str],
        top_k: int = 5,
        max_answers: int = 3,
        doc_ids: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        published_after: str | date | None = None,
        published_before: str | date | None = None,
    ) -> list[AskResponse]:
        body = _reading(top_k, max_answers, doc_ids, metadata, published_after, published_before)
        reply = self._call("POST", "/ask/batch", json={"questions": questions, **body})
        return AskBatchResponse.model_validate(reply).results

    # --- documents ---------------------------------------------------------------------
    def add(
        self,
        doc_id: str,
        text: str,
        title: str | None = None,
        metadata: dict[str, Any] | None = None,
        replace: bool = False,
        *,
        published: str | date | None = None,
        source: str | None = None,
        url: str | None = None,
        format: str = "text",
    ) -> int:
        """Add a document (``replace=True``: add or replace); the passages indexed."""
        fields = {"title": title, "metadata": metadata, "source": source, "url": url, "format": format}
        fields["published"] = published.isoformat() if isinstance(published, date) else published
        body = {"text": text, **{k: v for k, v in fields.items() if v is not None}}
        if replace:
            reply = self._call("PUT", f"/documents/{_quoted(doc_id)}", json=body)
        else:
            reply = self._call("POST", "/documents", json={"doc_id": doc_id, **body})
        return DocumentWritten.model_validate(reply).passages

    def write(self, doc: DocumentIn, replace: bool = False) -> DocumentWritten:
        """One document as the API takes it, with the service's whole reply (its status:
        added, replaced, unchanged; a warning where it has no passage)."""
        body = doc.model_dump(mode="json", exclude_defaults=True)
        if replace:
            del body["doc_id"]
            reply = self._call("PUT", f"/documents/{_quoted(doc.doc_id)}", json=body)
        else:
            reply = self._call("POST", "/documents", json=body)
        return DocumentWritten.model_validate(reply)

    def import_file(
        self,
        name: str,
        raw: bytes,
        format: str | None = None,
        replace: bool = False,
        refused: list[tuple[str, str]] | None = None,
    ) -> list[DocumentWritten]:
        """Every document of one file, as ``Engine.import_file``: without a ``refused`` list
        one bad entry refuses the file; with one, it is left out and recorded there."""
        answer = self._post_import(name, raw, replace, strict=refused is None, format=format)
        if "job_id" in answer:  # a large file, taken in the background: waited for here
            job = self.wait_for(answer["job_id"])
            if job.state == "failed":
                raise InvalidDocument(job.error or "the import failed")
            answer = {"documents": job.documents, "refused": job.refused}
        reply = DocumentsImported.model_validate(answer)
        if refused is not None:
            refused += [(r.entry, r.reason) for r in reply.refused]
        return reply.documents

    def submit_import(
        self, name: str, raw: bytes, replace: bool = False, strict: bool = False
    ) -> DocumentsImported | JobOut:
        """Send one file to be imported in the background: its ``JobOut`` to follow with
        ``job`` (or, where the service did it at once, what it wrote)."""
        answer = self._post_import(name, raw, replace, strict, wait=False)
        return (
            JobOut.model_validate(answer) if "job_id" in answer else DocumentsImported.model_validate(answer)
        )

    def _post_import(
        self, name: str, raw: bytes, replace: bool, strict: bool, format: str | None = None, wait: bool = True
    ) -> Any:
        """``POST /documents/import`` of one file (its format by ``format``, else its name)."""
        params: dict[str, Any] = {"name": name, "replace": replace, "strict": strict}
        if not wait:
            params["wait"] = False
        content_type = {"html": "text/html", "feed": "application/rss+xml", "jsonl": "application/x-ndjson"}
        headers = {"Content-Type": content_type.get(format or "", "application/octet-stream")}
        return self._call("POST", "/documents/import", params=params, content=raw, headers=headers)

    def job(self, job_id: str) -> JobOut:
        """A background import (``POST /documents/import?wait=false``)."""
        return JobOut.model_validate(self._call("GET", f"/jobs/{_quoted(job_id)}"))

    def wait_for(self, job_id: str, poll_s: float = 0.5) -> JobOut:
        """The job once it has ended (done or failed)."""
        while (job := self.job(job_id)).state in ("queued", "running"):
            time.sleep(poll_s)
        return job

    def delete(self, doc_id: str) -> None:
        self._call("DELETE", f"/documents/{_quoted(doc_id)}")

    def document(self, doc_id: str) -> DocumentOut:
        return DocumentOut.model_validate(self._call("GET", f"/documents/{_quoted(doc_id)}"))

    def document_page(self, limit: int, after: str | None = None, sort: str = "published") -> DocumentList:
        params = {"limit": limit, "sort": sort} | ({"after": after} if after is not None else {})
        return DocumentList.model_validate(self._call("GET", "/documents", params=params))

    def documents(
        self, limit: int | None = None, after: str | None = None, sort: str = "published"
    ) -> list[DocumentSummary]:
        """Documents newest first (or by ``doc_id``), every page fetched until ``limit``."""
        out: list[DocumentSummary] = []
        while limit is None or len(out) < limit:
            page = self.document_page(min(1000, limit - len(out)) if limit else 1000, after, sort)
            out += page.documents
            if page.next is None:
                break
            after = page.next
        return out

    def export(self) -> Iterator[DocumentIn]:
        """Every document, as ``Engine.export`` gives them (streamed: bounded memory)."""
        for line in self.export_lines():
            yield DocumentIn.model_validate_json(line)

    def export_lines(self) -> Iterator[str]:
        """``GET /export`` line by line: one document each, as the import takes it."""
        try:
            with self._http.stream("GET", "/export") as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error(response)
                for line in response.iter_lines():
                    if line.strip():
                        yield line
        except httpx.TransportError as exc:  # cut off part-way: the caller keeps no half file
            raise ServiceUnavailable(f"the export from {self.url} was cut off ({exc})") from None

    def export_to(self, path: str | os.PathLike[str]) -> int:
        """Write every document as JSON Lines to ``path``, whole or not at all; returns the
        documents written."""
        return write_whole(path, self.export_lines())

    def health(self) -> Health:
        return Health.model_validate(self._call("GET", "/health"))

    # --- followed feeds ----------------------------------------------------------------
    def follow(self, url: str, interval_s: int | None = None) -> FeedOut:
        body = {"url": url} | ({"interval_s": interval_s} if interval_s is not None else {})
        return FeedOut.model_validate(self._call("POST", "/feeds", json=body))

    def feeds(self) -> list[FeedOut]:
        return FeedList.model_validate(self._call("GET", "/feeds")).feeds

    def unfollow(self, feed_id: str) -> None:
        self._call("DELETE", f"/feeds/{_quoted(feed_id)}")

    # --- the wire ----------------------------------------------------------------------
    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in range(self.retries + 1):
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TimeoutException:
                timeout = self._http.timeout.read
                raise ServiceBusy(
                    f"the service at {self.url} did not answer within {timeout or 0:.0f} s (busy?)"
                    + (
                        ": the write may still complete; check with `qa search` or GET /documents"
                        if method != "GET"
                        else ""
                    )
                ) from None
            except httpx.TransportError as exc:
                sent = len(kwargs.get("content") or b"")
                if sent > LARGE_BODY and isinstance(exc, (httpx.WriteError, httpx.RemoteProtocolError)):
                    too_large = DocumentTooLarge(
                        f"the service closed the connection while receiving {sent:,} bytes "
                        "(larger than it accepts?)"
                    )
                    too_large.status = 413
                    raise too_large from None
                raise ServiceUnreachable(f"no QA service at {self.url} ({exc})") from None
            wait = _retry_after(response)
            if response.status_code == 503 and wait is not None and attempt < self.retries:
                time.sleep(min(wait, MAX_RETRY_WAIT_S))
                continue
            break
        if response.status_code >= 400:
            raise _error(response)
        return response.json() if response.content else None


def _error(response: httpx.Response) -> QAError:
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text[:500]}
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):  # FastAPI's validation errors
        detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])[1:]))}: {d.get('msg')}" for d in detail)
    named = getattr(errors, str(body.get("error", "")) if isinstance(body, dict) else "", None)
    kind = named if isinstance(named, type) and issubclass(named, QAError) else None
    kind = kind or _BY_STATUS.get(
        response.status_code, ServiceUnavailable if response.status_code >= 500 else QAError
    )
    error = kind(str(detail or f"HTTP {response.status_code}"))
    error.status = response.status_code
    return error


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


def _quoted(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _dates(after: str | date | None, before: str | date | None) -> dict[str, str]:
    out = {}
    for key, value in (("published_after", after), ("published_before", before)):
        if value is not None:
            out[key] = value.isoformat() if isinstance(value, date) else value
    return out


def _reading(
    top_k: int,
    max_answers: int,
    doc_ids: list[str] | None,
    metadata: dict[str, Any] | None,
    after: str | date | None,
    before: str | date | None,
) -> dict[str, Any]:
    return {"top_k": top_k, "max_answers": max_answers} | _filters(doc_ids, metadata, after, before)


def _filters(
    doc_ids: list[str] | None,
    metadata: dict[str, Any] | None,
    after: str | date | None,
    before: str | date | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if doc_ids is not None:
        body["doc_ids"] = doc_ids
    if metadata is not None:
        body["metadata"] = metadata
    return body | _dates(after, before)


def write_whole(path: str | os.PathLike[str], lines: Iterable[str]) -> int:
    """Lines into ``path`` through a temporary file beside it, renamed once the last one is
    in and on disk: the file is whole or absent, whatever stops the writing. The count."""
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial")
    n = 0
    try:
        with open(partial, "w", encoding="utf-8") as out:
            for line in lines:
                out.write(line + "\n")
                n += 1
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return n
