"""The service's tools for LLM agents over the Model Context Protocol (``qa.agents.mcp``), driven by
the SDK's own client: in-process, over stdio (``qa mcp``) and over HTTP (``/mcp``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
from mcp import Client as AgentClient
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from qa.agents.mcp import build
from qa.engine import Engine
from qa.tools.devserver import running_server

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
QUESTION = "How many troops did Tajikistan mobilize?"


async def _ask_and_read(server: Any) -> tuple[set[str], dict[str, Any], dict[str, Any]]:
    async with AgentClient(server) as agent:
        tools = {t.name for t in (await agent.list_tools()).tools}
        asked = await agent.call_tool("ask", {"question": QUESTION})
        assert not asked.is_error, asked.content
        top = asked.structured_content["answers"][0]
        cite = top["citations"][0]
        start = max(0, cite["answer_start"] - 20)
        read = await agent.call_tool("get_document", {"doc_id": cite["doc_id"], "start": start, "length": 60})
        return tools, asked.structured_content, read.structured_content


def _check(tools: set[str], asked: dict[str, Any], read: dict[str, Any], writes: bool) -> None:
    assert tools == {"ask", "search", "get_document"} | ({"add_document"} if writes else set())
    top = asked["answers"][0]
    assert top["answer"] == "20,000" and 0 < top["confidence"] <= 1
    cited = {c["doc_id"][:3] for c in top["citations"]}
    cited |= {d[:3] for c in top["citations"] for d in c["also_published_by"]}
    assert {"001", "003", "000"} <= cited  # the three articles that state it (000 as 001's copy)
    cite = top["citations"][0]
    assert cite["headline"] and "20,000" in cite["quote"]
    offset = cite["answer_start"] - read["start"]
    assert read["text"][offset : offset + 6] == "20,000"  # exact offsets, read back through the tool


def test_an_agent_asks_and_reads_the_citation(seed_engine: Engine) -> None:
    tools, asked, read = anyio.run(_ask_and_read, build(lambda: seed_engine, allow_writes=False))
    _check(tools, asked, read, writes=False)


def test_an_empty_answer_list_says_the_news_does_not_say(seed_engine: Engine) -> None:
    async def ask() -> Any:
        async with AgentClient(build(lambda: seed_engine, allow_writes=False)) as agent:
            return await agent.call_tool("ask", {"question": "What is the population of Norway's capital?"})

    reply = anyio.run(ask)
    assert reply.structured_content["answers"] == []
    assert "does not say" in reply.structured_content["note"]


def test_qa_mcp_over_stdio(tmp_path: Path) -> None:
    command = StdioServerParameters(
        command=sys.executable,
        args=["-m", "qa.cli", "mcp", "--data-dir", str(tmp_path / "d"), "--corpus", str(SEEDS)],
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
        cwd=str(ROOT),
    )
    tools, asked, read = anyio.run(_ask_and_read, command)
    _check(tools, asked, read, writes=False)


def test_mcp_over_http_behind_the_api_key(tmp_path: Path) -> None:
    env = {"QA_API_KEY": "k3y", "QA_PROTECT_READS": "true"}
    with running_server(tmp_path / "d", SEEDS, **env) as url:
        refused = httpx.post(url + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert refused.status_code == 401

        async def session() -> Any:
            keyed = httpx2.AsyncClient(headers={"Authorization": "Bearer k3y"}, timeout=60)
            async with keyed:
                return await _ask_and_read(streamable_http_client(url + "/mcp", http_client=keyed))

        tools, asked, read = anyio.run(session)
        _check(tools, asked, read, writes=True)  # every caller holds the key: writes offered
