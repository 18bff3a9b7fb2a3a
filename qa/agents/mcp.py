"""The service as Model Context Protocol tools, for LLM agents (the official ``mcp`` SDK).

``qa mcp`` serves them over stdio (a desktop agent starts it as a subprocess, over a data
directory), and the HTTP app mounts the same server at ``/mcp`` (streamable HTTP; behind the
API key when reads are protected). Tools: ``ask``, ``search``, ``get_document`` and, only
where writes are allowed, ``add_document``. Their descriptions are written for a model: what
each returns, when to use it, and that an empty answer list means the news does not say.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from qa.engine import Engine
from qa.errors import QAError
from qa.schemas import Answer, Passage

MAX_DOCUMENT_SLICE = 20_000  # characters of a document one get_document call returns

INSTRUCTIONS = (
    "Question answering over a news corpus with exact citations. Use `ask` for a factual question "
    "about the news: it returns answers, each with a confidence and the articles that state it "
    "(headline, outlet, date, the quoted sentence and character offsets). An empty `answers` list "
    "means the corpus does not say: tell the user so rather than guessing. Use `search` to see the "
    "passages on a topic, and `get_document` to read an article around a citation."
)


def _citation(c: Any) -> dict[str, Any]:
    return {
        "doc_id": c.doc_id,
        "headline": c.title,
        "outlet": c.source,
        "published": c.published,
        "quote": c.context,
        "answer_start": c.start,
        "answer_end": c.end,
        "paragraph": c.paragraph,
        "also_published_by": [copy.source or copy.doc_id for copy in c.copies],
    }


def _answer(a: Answer) -> dict[str, Any]:
    return {"answer": a.text, "confidence": a.score, "citations": [_citation(c) for c in a.citations]}


def _passage(p: Passage) -> dict[str, Any]:
    return {
        "doc_id": p.doc_id,
        "headline": p.title,
        "outlet": p.source,
        "published": p.published,
        "paragraph": p.paragraph,
        "start": p.start,
        "end": p.end,
        "text": p.text,
        "relevance": p.score,
    }


def build(engine: Callable[[], Engine], allow_writes: bool) -> MCPServer:
    """The MCP server over the engine ``engine()`` returns (looked up per call, so that an app
    can build it before its engine opens)."""
    server = MCPServer("newsqa", instructions=INSTRUCTIONS)

    async def run(fn: Callable[[], Any]) -> Any:
        try:
            return await anyio.to_thread.run_sync(fn)
        except QAError as exc:  # a clear message for the model, not "error executing tool"
            raise ToolError(str(exc)) from None

    @server.tool()
    async def ask(
        question: str,
        top_k: int = 5,
        published_after: str | None = None,
        published_before: str | None = None,
    ) -> dict[str, Any]:
        """Answer a factual question from the news corpus. Returns `answers` (best first), each
        with `answer` (the exact words of the source), `confidence` (0-1, calibrated: 0.8 means
        right about 8 times in 10) and `citations`: the articles that state it, each with
        `headline`, `outlet`, `published`, `quote` (the sentence around the answer) and the
        answer's character offsets in the article (`answer_start`, `answer_end`; read it with
        `get_document`). An empty `answers` list means the corpus does not hold the answer:
        say that the news does not say, do not guess. `note` is set when sources of different
        dates give different answers. Dates (ISO 8601) keep to articles published in a range."""

        def call() -> dict[str, Any]:
            reply = engine().ask(
                question, top_k, published_after=published_after, published_before=published_before
            )
            out: dict[str, Any] = {"question": reply.question, "answers": [_answer(a) for a in reply.answers]}
            if not reply.answers:
                out["note"] = "The news in this corpus does not say."
            elif reply.note:
                out["note"] = reply.note
            return out

        result: dict[str, Any] = await run(call)
        return result

    @server.tool()
    async def search(
        query: str, k: int = 5, published_after: str | None = None, published_before: str | None = None
    ) -> dict[str, Any]:
        """Find the passages of news articles most relevant to a query (meaning and words),
        best first: each with its article's `doc_id`, `headline`, `outlet`, `published`, the
        passage `text` and its character offsets in the article. Use it to explore a topic or
        to find articles; use `ask` for a question with an answer."""

        def call() -> dict[str, Any]:
            found = engine().search(
                query, k, published_after=published_after, published_before=published_before
            )
            return {"query": query, "passages": [_passage(p) for p in found.passages]}

        result: dict[str, Any] = await run(call)
        return result

    @server.tool()
    async def get_document(doc_id: str, start: int = 0, length: int = 4000) -> dict[str, Any]:
        """Read part of one article: its text from character `start`, `length` characters (at
        most 20,000), with its headline, outlet, date and address. Offsets are those of the
        citations `ask` returns, so `start` a little before `answer_start` reads the context."""

        def call() -> dict[str, Any]:
            doc = engine().document(doc_id, copies=False)
            lo = max(0, min(start, len(doc.text)))
            hi = min(len(doc.text), lo + max(0, min(length, MAX_DOCUMENT_SLICE)))
            return {
                "doc_id": doc.doc_id,
                "headline": doc.title,
                "outlet": doc.source,
                "published": doc.published,
                "url": doc.url,
                "start": lo,
                "end": hi,
                "total_chars": len(doc.text),
                "text": doc.text[lo:hi],
            }

        result: dict[str, Any] = await run(call)
        return result

    if allow_writes:

        @server.tool()
        async def add_document(
            doc_id: str,
            text: str,
            title: str | None = None,
            published: str | None = None,
            source: str | None = None,
            url: str | None = None,
        ) -> dict[str, Any]:
            """Add a news article to the corpus so that `ask` and `search` find it: `doc_id`
            (letters, digits, '.', '_', '-'), its plain `text`, and where known its `title`
            (headline), `published` date (ISO 8601), `source` (outlet) and `url`. Fails if the
            id exists. Returns the number of passages indexed."""

            def call() -> dict[str, Any]:
                n = engine().add(doc_id, text, title, published=published, source=source, url=url)
                return {"doc_id": doc_id, "passages": n}

            result: dict[str, Any] = await run(call)
            return result

    return server


def serve_stdio(engine: Engine, allow_writes: bool) -> None:
    """Serve the tools over stdin/stdout until the client closes them."""
    build(lambda: engine, allow_writes).run("stdio")
