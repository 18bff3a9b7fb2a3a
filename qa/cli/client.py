"""A small HTTP client for the service (standard library only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

LARGE_BODY = 1_000_000  # a reset while sending more than this is about its size


class ServiceUnreachable(Exception):
    """No server answered at the URL."""


class ServiceBusy(Exception):
    """The server took the request but did not answer in time."""


class ServiceError(Exception):
    """The server answered with an error status; the message is its ``detail``."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


class Client:
    def __init__(self, url: str, timeout: float = 60.0, api_key: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.api_key = api_key

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> Any:
        url = self.url + path
        if params:
            given = {k: v for k, v in params.items() if v is not None}
            url += "?" + urllib.parse.urlencode(given, doseq=True)
        data = raw if raw is not None else json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", content_type)
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise ServiceError(exc.code, _detail(exc.read())) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                raise ServiceBusy(
                    f"the service at {self.url} did not answer within {self.timeout:.0f} s (busy?)"
                    + (
                        ": the write may still complete; check with `qa search` or GET /documents"
                        if method != "GET"
                        else ""
                    )
                ) from None
            if data is not None and len(data) > LARGE_BODY and isinstance(reason, ConnectionError):
                raise ServiceError(
                    413,
                    f"the service closed the connection while receiving {len(data):,} bytes "
                    "(larger than it accepts?)",
                ) from None
            raise ServiceUnreachable(f"no QA service at {self.url} ({_reason(exc)})") from None
        return json.loads(raw) if raw else None

    def search(self, question: str, k: int = 5, **dates: str | None) -> dict:
        return dict(self._call("GET", "/search", params={"q": question, "k": k, **dates}))

    def ask(self, question: str, top_k: int = 5, max_answers: int = 3, **dates: str | None) -> dict:
        body = {"question": question, "top_k": top_k, "max_answers": max_answers, **_given(dates)}
        return dict(self._call("POST", "/ask", body=body))

    def ask_batch(
        self, questions: list[str], top_k: int = 5, max_answers: int = 3, **dates: str | None
    ) -> list[dict]:
        body = {"questions": questions, "top_k": top_k, "max_answers": max_answers, **_given(dates)}
        return list(self._call("POST", "/ask/batch", body=body)["results"])

    def add(self, doc_id: str, text: str, replace: bool = False, **fields: Any) -> dict:
        """One document; ``fields``: title, published, source, url, metadata, format."""
        body = {"text": text, **_given(fields)}
        if replace:
            return dict(self._call("PUT", f"/documents/{urllib.parse.quote(doc_id)}", body=body))
        return dict(self._call("POST", "/documents", body={"doc_id": doc_id, **body}))

    def import_file(
        self, name: str, raw: bytes, replace: bool = False, strict: bool = False, wait: bool | None = None
    ) -> dict:
        """Every document of a file (a feed, JSON Lines, HTML, text): its format by its name.
        The reply: ``documents`` written and the entries ``refused`` (none with ``strict``:
        one bad entry refuses the file), or, taken in the background (``wait=False``, or a
        large file), the job (``job_id``) to follow with ``job``."""
        params = {"name": name, "replace": "true" if replace else None, "strict": "true" if strict else None}
        if wait is not None:
            params["wait"] = "true" if wait else "false"
        reply = self._call(
            "POST", "/documents/import", params=params, raw=raw, content_type="application/octet-stream"
        )
        return dict(reply)

    def job(self, job_id: str) -> dict:
        return dict(self._call("GET", f"/jobs/{urllib.parse.quote(job_id)}"))

    def delete(self, doc_id: str) -> None:
        self._call("DELETE", f"/documents/{urllib.parse.quote(doc_id)}")

    def follow(self, url: str, interval_s: int | None = None) -> dict:
        return dict(self._call("POST", "/feeds", body=_given({"url": url, "interval_s": interval_s})))

    def feeds(self) -> list[dict]:
        return list(self._call("GET", "/feeds")["feeds"])

    def unfollow(self, feed_id: str) -> None:
        self._call("DELETE", f"/feeds/{urllib.parse.quote(feed_id)}")


def _given(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", exc)
    return str(reason)


def _detail(raw: bytes) -> str:
    try:
        detail = json.loads(raw).get("detail", raw.decode("utf-8", "replace"))
    except (ValueError, AttributeError):
        return raw.decode("utf-8", "replace")[:500]
    if isinstance(detail, list):  # FastAPI validation errors
        return "; ".join(f"{'.'.join(map(str, d.get('loc', [])[1:]))}: {d.get('msg')}" for d in detail)
    return str(detail)
