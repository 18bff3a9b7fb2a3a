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


def passages(reply: dict[str, Any], colour: bool = False) -> str:
    lines = []
    for rank, p in enumerate(reply.get("passages", []), start=1):
        cite = f"{p['doc_id']} ¶{p['paragraph']} [{p['start']}:{p['end']}]"
        head = f"{rank}. {cite}  score {p['score']:.3f}"
        lines.append(f"{DIM}{head}{RESET}" if colour else head)
        lines.append(textwrap.indent(textwrap.fill(p["text"], 96), "   "))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n" if lines else "No passages found.\n"


def answers(reply: dict[str, Any], colour: bool = False) -> str:
    found = reply.get("answers", [])
    if not found:
        return "No answer found in the corpus (the passages read are listed with --json).\n"
    lines = []
    for rank, answer in enumerate(found, start=1):
        lines.append(f"{rank}. {answer['text']}  (score {answer['score']:.2f})")
        for c in answer["citations"]:
            lines.append(
                f"   - {c['doc_id']} ¶{c['paragraph']} chars {c['start']}-{c['end']}  score {c['score']:.2f}"
            )
            text = highlight(c["context"], c["context_start"], c["context_end"], colour)
            lines.append(textwrap.indent(text, "     "))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
