"""Plain-text rendering of replies for a person at a terminal.

The highlight is drawn from the citation's offsets into its context, never by searching.
"""

from __future__ import annotations

import textwrap
from typing import Any

BOLD_YELLOW = "\x1b[1;33m"
DIM = "\x1b[2m"
RESET = "\x1b[0m"


def highlight(context: str, start: int, end: int, colour: bool) -> str:
    before, span, after = context[:start], context[start:end], context[end:]
    if colour:
        return f"{before}{BOLD_YELLOW}{span}{RESET}{after}"
    return f"{before}[[{span}]]{after}"


def source_line(item: dict[str, Any]) -> str:
    """How a person names a source: "headline · outlet · date" (what is known of them)."""
    title = item.get("title") or item.get("doc_id", "")
    if len(title) > 90:
        title = title[:89].rstrip() + "…"
    parts = (title, item.get("source"), item.get("published_day") or "")
    return " · ".join(part for part in parts if part)


def passages(reply: dict[str, Any], colour: bool = False) -> str:
    lines = []
    for rank, p in enumerate(reply.get("passages", []), start=1):
        cite = f"{source_line(p)}  ({p['doc_id']} ¶{p['paragraph']} [{p['start']}:{p['end']}])"
        head = f"{rank}. {cite}  relevance {p['score']:.3f}"
        lines.append(f"{DIM}{head}{RESET}" if colour else head)
        lines.append(textwrap.indent(textwrap.fill(p["text"], 96), "   "))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n" if lines else "No passages found.\n"


def answers(reply: dict[str, Any], colour: bool = False) -> str:
    found = reply.get("answers", [])
    if not found:
        return "No answer found in the corpus (the passages read are listed with --json).\n"
    lines = []
    if reply.get("note"):
        lines += [f"Note: {reply['note']}", ""]
    for rank, answer in enumerate(found, start=1):
        lines.append(f"{rank}. {answer['text']}  (confidence {answer['score']:.0%})")
        for c in answer["citations"]:
            lines.append(f"   - {source_line(c)}  (share of support {c['score']:.0%})")
            lines.append(f"     {c['doc_id']} ¶{c['paragraph']} chars {c['start']}-{c['end']}")
            text = highlight(c["context"], c["context_start"], c["context_end"], colour)
            lines.append(textwrap.indent(text, "     "))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
