"""Every ``$ qa ...`` and ``$ curl ...`` command shown in README.md and on the documentation
site runs as written against a live service over the seeds, and prints what the page shows
(scores aside).

Only what a reader cannot copy is replaced: the files a command names are made here, and a
feed address on the internet (or a port of the run the page was written from) becomes a
local feed server's."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa.cli import main
from tests.conftest import ROOT, SEEDS, serving
from tests.test_feeds import ONE, FeedServer, rss

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FEED_ADDRESS = re.compile(r"https?://(?:news\.example|127\.0\.0\.1:\d+)/\S*")
# Scores and shares move with the models; the rest of a line is the contract.
SCORE = re.compile(r"\d+(?:\.\d+)?%|\b0\.\d+|relevance \S+")


READS = ("search", "ask", "curl")  # curl: the pages' HTTP examples are reads, but for one


def examples() -> list[tuple[str, str, list[str]]]:
    """(page, command, the lines the page shows it printing) of every ``$ qa`` and ``$ curl``
    line (with its continuation lines). What a page shows a read print is checked against
    the seeds alone, so the reads run first; a read that follows a write in its own block
    reads the page's own files (not shipped), so only that it runs is checked."""
    reads, rest = [], []
    for page in PAGES:
        for block in re.findall(r"```console\n(.*?)```", page.read_text(encoding="utf-8"), re.DOTALL):
            lines = block.splitlines()
            wrote = False
            for i, line in enumerate(lines):
                if not line.startswith(("$ qa ", "$ curl ")):
                    continue
                command, shown = line[2:], []
                for after in lines[i + 1 :]:
                    if after.startswith("$ "):
                        break
                    if command.endswith("\\") and not shown:
                        command = command[:-1] + " " + after.strip()
                    else:
                        shown.append(after)
                verb = "curl" if command.startswith("curl") else shlex.split(command)[1]
                wrote = wrote or verb not in READS
                if verb in READS and not wrote:
                    reads.append((page.name, command, shown))
                else:
                    rest.append((page.name, command, [] if verb in READS else shown))
    return reads + rest


def files(folder: Path) -> None:
    """The files the examples name, as a newsroom would have them."""
    page = (
        "<html><head><title>Khorog crossing reopens | Courier</title></head><body><article>"
        "<h1>Khorog crossing reopens</h1><p>Officials said the Khorog crossing reopened to trucks on "
        "Tuesday morning after a week of closures along the border.</p></article></body></html>"
    )
    line = {
        "doc_id": "desk-1",
        "text": "The border service said more than 300 Afghan soldiers crossed the river on Monday night.",
        "published": "2021-07-06",
    }
    for name in ("article.html", "courier.html"):
        (folder / name).write_text(page.replace("Khorog", name.split(".")[0].title()), encoding="utf-8")
    for name in ("export.jsonl", "desk.jsonl"):
        (folder / name).write_text(json.dumps(line | {"doc_id": name.split(".")[0]}) + "\n", encoding="utf-8")
    for name in ("wire.rss", "asia-wire.rss"):
        (folder / name).write_bytes(rss(ONE))


@pytest.fixture
def service(make_engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:  # type: ignore[no-untyped-def]
    engine = make_engine(corpus=SEEDS, reader=True, feed_allow_private=True, follow_feeds=False)
    with serving(engine) as url:
        monkeypatch.setenv("QA_URL", url)
        monkeypatch.delenv("QA_API_KEY", raising=False)
        monkeypatch.chdir(tmp_path)
        files(tmp_path)
        yield url


def curl(command: str, page: str) -> list[str]:
    """What a page's ``curl ... [| python -c ...]`` prints, run by a shell as a reader would."""
    command = command.replace("| python ", f"| {shlex.quote(sys.executable)} ")
    done = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {command}"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"{page}: `{command}` exited {done.returncode}: {done.stderr}"
    return done.stdout.splitlines()


@pytest.mark.skipif(shutil.which("curl") is None, reason="the pages' HTTP examples need curl")
def test_every_qa_command_of_the_readme_and_the_site_runs_as_written(
    service: str, capsys: pytest.CaptureFixture[str]
) -> None:
    feeds = FeedServer()
    found = examples()
    assert len(found) >= 8, found  # the pages show the commands people copy first
    followed: list[str] = []
    try:
        for page, command, shown in found:
            if command.startswith("curl"):
                printed = curl(command.replace("http://127.0.0.1:8000", service), page)
            else:
                argv = shlex.split(FEED_ADDRESS.sub(f"{feeds.url}/feed.xml", command), comments=True)[1:]
                if argv[0] == "unfollow":
                    argv = ["unfollow", followed.pop()]
                code = main(argv)
                out = capsys.readouterr()
                assert code == 0, f"{page}: `{command}` exited {code}: {out.err}"
                if argv[0] == "follow":
                    followed.append(out.out.split(":")[0])
                printed = out.out.splitlines()
            if shown and shown[0].lstrip().startswith("{"):  # JSON, abridged on the page
                keys = set(re.findall(r'"(\w+)":', "\n".join(shown)))
                assert keys <= set(re.findall(r'"(\w+)":', "\n".join(printed))), (page, command)
            elif shown and command.startswith("curl"):  # printed by the page's own pipe
                assert [SCORE.sub("#", p) for p in printed] == [SCORE.sub("#", p) for p in shown], (
                    page,
                    command,
                    printed,
                )
            elif shown and command.split()[1] in READS:  # the first line the page shows, scores aside
                expected = SCORE.sub("#", shown[0])
                assert expected in [SCORE.sub("#", p) for p in printed], (page, command, printed)
    finally:
        feeds.httpd.shutdown()
    assert Path("backup.jsonl").exists()  # qa export wrote the backup the README names
