"""Figures for the documentation site, drawn from what the measuring tools wrote:
``python -m qa.tools.figures --news FILE.json`` (the JSON of ``qa eval news --json``) draws
the reliability diagram of the answers' scores, ``--peer FILE.json`` (the JSON of
``qa.tools.peer_txtai --news``) the peers side by side, ``--latency FILE.json`` (the JSON of
``qa.tools.size_latency``) latency against corpus size, into ``docs/figures/``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path(__file__).resolve().parents[2] / "docs" / "figures"


def _pyplot() -> Any:
    """matplotlib's pyplot on the file-only back end (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: Path) -> None:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def reliability(given: list[list[float]], title: str, path: Path, bins: int = 10) -> None:
    """Predicted probability against the share right, per score bin (the diagonal is a
    perfectly calibrated score), with the number of answers in each bin."""
    plt = _pyplot()
    scores = np.array([s for s, _ in given])
    right = np.array([r for _, r in given], dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(scores, edges) - 1, 0, bins - 1)
    mean_p, share, count = [], [], []
    for b in range(bins):
        mask = which == b
        if mask.any():
            mean_p.append(scores[mask].mean())
            share.append(right[mask].mean())
            count.append(int(mask.sum()))
    fig, ax = plt.subplots(figsize=(5, 5), dpi=110)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.plot(mean_p, share, marker="o", color="#1f5fa8", label="answers given")
    for p, s, n in zip(mean_p, share, count, strict=True):
        ax.annotate(str(n), (p, s), textcoords="offset points", xytext=(5, -12), fontsize=8)
    ax.set_xlabel("the answer's score (predicted probability that it is right)")
    ax.set_ylabel("share of answers right (F1 >= 0.5)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    _save(plt, fig, path)


def peers(results: dict[str, dict[str, float]], title: str, path: Path) -> None:
    """Each system's quality figures side by side (bars), its ask p50 in the legend."""
    plt = _pyplot()
    measures = [
        ("f1", "F1"),
        ("answered", "answered"),
        ("abstained", "unanswerable\nabstained"),
        ("overall", "overall"),
    ]
    fig, ax = plt.subplots(figsize=(6.5, 4), dpi=110)
    width = 0.8 / max(1, len(results))
    for i, (name, figures) in enumerate(results.items()):
        xs = [j + i * width for j in range(len(measures))]
        label = f"{name} (ask p50 {figures.get('ask_p50_ms', 0):.0f} ms)"
        bars = ax.bar(xs, [figures[key] for key, _ in measures], width, label=label)
        ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
    ax.set_xticks(
        [j + width * (len(results) - 1) / 2 for j in range(len(measures))], [m for _, m in measures]
    )
    ax.set_ylim(0, 1.1)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    _save(plt, fig, path)


def latency(result: dict[str, Any], path: Path) -> None:
    """Search and ask p50 (and p95, dashed) against the passages in the corpus (log scale)."""
    plt = _pyplot()
    rows = result["rows"]
    passages = [r["passages"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for name, colour in (("ask", "#1f5fa8"), ("search", "#c2571a")):
        ax.plot(passages, [r[f"{name}_p50_ms"] for r in rows], marker="o", color=colour, label=f"{name} p50")
        ax.plot(
            passages, [r[f"{name}_p95_ms"] for r in rows], linestyle="--", color=colour, label=f"{name} p95"
        )
    ax.set_xscale("log")
    ax.set_xlabel("passages in the corpus")
    ax.set_ylabel("ms per question (in-process, one at a time)")
    ax.set_ylim(bottom=0)
    ax.set_title(
        f"Latency against corpus size, {result['questions']} SQuAD-train questions\n{result['machine']}",
        fontsize=8,
    )
    ax.legend(fontsize=8)
    _save(plt, fig, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--news", type=Path, help="the JSON of `qa eval news --json`")
    ap.add_argument("--peer", type=Path, help="the JSON of `python -m qa.tools.peer_txtai --news ... --json`")
    ap.add_argument("--latency", type=Path, help="the JSON of `python -m qa.tools.size_latency --json`")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if args.news:
        results = json.loads(args.news.read_text())
        for mode, figures in results.items():
            if figures.get("given"):
                n = len(figures["given"])
                title = f"Real news ({mode}): the {n} answers given, by score"
                reliability(figures["given"], title, args.out / f"reliability-news-{mode}.png")
                print(f"wrote {args.out / f'reliability-news-{mode}.png'}")
    if args.peer:
        results = json.loads(args.peer.read_text())
        n = next(iter(results.values())).get("questions", 0)
        path = args.out / "peers-news.png"
        peers(
            results, f"Real news, {n} questions: ours and txtai 9 (same passages, same reader weights)", path
        )
        print(f"wrote {path}")
    if args.latency:
        path = args.out / "latency-size.png"
        latency(json.loads(args.latency.read_text()), path)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
