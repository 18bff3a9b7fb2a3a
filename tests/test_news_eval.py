"""``qa eval news``: the real-news benchmark's plumbing, on a small set built here."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from qa.evaluation import news

BODY = (
    "Tajikistan has mobilized 20,000 military reservists to strengthen its border with "
    "Afghanistan after more than a thousand Afghan troops fled a Taliban offensive.\n\n"
    "President Emomali Rahmon spoke with Russian President Vladimir Putin on Monday about the border."
)
PAGE = (
    "<html><head><title>Tajikistan mobilizes reservists</title>"
    '<meta property="og:title" content="Tajikistan mobilizes reservists"></head><body><article>'
    + "".join(f"<p>{p}</p>" for p in BODY.split("\n\n"))
    + "</article></body></html>"
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("news")
    (root / "pages").mkdir()
    (root / "pages" / "aaaaaaaaaaaa.html.gz").write_bytes(gzip.compress(PAGE.encode()))
    (root / "ground-truth.json").write_text(json.dumps({"aaaaaaaaaaaa": {"url": "", "body": BODY}}))
    rows = [
        {"id": "t1", "question": "How many reservists did Tajikistan mobilize?", "answers": ["20,000"],
         "docs": ["aaaaaaaaaaaa"], "kind": "number"},
        {"id": "t2", "question": "What did Vladimir Putin promise to Kazakhstan's navy in 1950?",
         "answers": [], "docs": [], "kind": "other"},
    ]  # fmt: skip
    (root / "news_dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_both_modes_are_measured_and_scored_as_squad(folder: Path, tmp_path: Path, capsys) -> None:
    results = news.run(folder, news.MODES, tmp_path, top_k=5, misses=True)
    out = capsys.readouterr().out
    assert "| mode | EM | F1 | answered | abstained | overall |" in out and "F1 per kind" in out
    for mode in news.MODES:
        r = results[mode]
        assert r["questions"] == 2 and r["em"] == r["f1"] == 1.0 and r["recall@k"] == 1.0
        assert r["overall"] == pytest.approx((1.0 + r["abstained"]) / 2)
