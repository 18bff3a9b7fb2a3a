"""A short mixed load (ask, search, add, delete) against a live server: no errors, no
stale or dangling ids. `make load` runs the long version (16 clients, 30 s)."""

from __future__ import annotations

from pathlib import Path

from qa.tools.loadtest import report, run
from tests.conftest import running_server


def test_mixed_load_loses_nothing(tmp_path: Path) -> None:
    with running_server(tmp_path / "data") as url:
        tally, problems = run(url, clients=4, seconds=6)
    print(report(tally, problems, 6))
    assert not tally.errors and not problems
    assert tally.added or tally.deleted
    assert {"search", "ask"} <= set(tally.latencies)
