"""What the README's commands set up, read from the Makefile (nothing is installed here)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def target(name: str) -> tuple[list[str], list[str]]:
    """A Makefile target's prerequisites and recipe lines."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    m = re.search(rf"^{re.escape(name)}:([^\n]*)\n((?:\t[^\n]*\n)*)", text, re.MULTILINE)
    assert m, f"no target {name}"
    return m.group(1).split(), [line.strip() for line in m.group(2).splitlines()]


def test_make_serve_installs_the_runtime_only() -> None:
    """Serving needs the runtime dependencies, not the dev extras (a 2.4 GB venv)."""
    needs, _ = target("serve")
    assert needs == ["$(RUNTIME)"]
    _, recipe = target("$(RUNTIME)")
    installs = [line for line in recipe if "pip install" in line]
    assert installs and not any("[dev]" in line or "[peer]" in line for line in installs)
    assert any("torch==2.13.0" in line for line in installs)  # pinned: never the CUDA build


def test_make_test_names_the_slowest_tests() -> None:
    _, recipe = target("test")
    assert any("pytest" in line and "--durations=" in line for line in recipe)
