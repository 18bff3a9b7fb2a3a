"""Fine-tune the reader for open-book reading: a question's passages read together.

    python -m qa.evaluation.episodes --train ../shared/data/squad/train-v1.1.json
    python -m qa.reading.train_open --episodes data/reader-train/episodes.jsonl \\
        --train ../shared/data/squad/train-v1.1.json --out data/reader-open

Each step reads a few episodes (``qa.evaluation.episodes``: a SQuAD-train question, its
gold paragraph and the passages our retriever ranks beside it). Two losses:

- shared normalization (Clark & Gardner 2018): the start and end distributions are
  normalized over the passage tokens of *every* window of the episode, so a span's raw
  start + end logits compare across passages and a confident span in a passage that does not
  answer the question is penalized against the right span in the one that does;
- the per-window loss of the first recipe (the gold window points at its span, each
  distractor window at [CLS]), weighted by ``window_weight``, which keeps the reader's
  per-window "no answer" probability meaningful for abstention.

Starts from the shipped reader by default; resumable like ``qa.reading.train`` (rerun the
same command to continue from ``--work-dir``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from index.hardware import file_sha256
from qa.reading.negatives import on_topic_negatives
from qa.reading.spans import Window, answer_token_span, encode_windows, pad_batch
from qa.reading.train import (
    add_recipe_arguments,
    export,
    make_optimizer,
    progress,
    resume,
    save_checkpoint,
)

log = logging.getLogger("qa.reading.train_open")
DEFAULT_BASE = Path(__file__).resolve().parents[1] / "weights" / "reader"


@dataclass
class OpenRecipe:
    seed: int = 13
    max_length: int = 192
    stride: int = 64
    episodes_per_batch: int = 4
    lr: float = 3e-5
    weight_decay: float = 0.01
    warmup: float = 0.06
    epochs: float = 1.0
    max_episodes: int = 0  # 0 = all
    distractors: int = 4
    window_weight: float = 0.5
    bf16: bool = True
    # On-topic no-answer episodes (qa.reading.negatives): about this share of the episodes
    # each way (gold passage removed; question perturbed), every window labelled [CLS].
    negatives: float = 0.0


@dataclass(frozen=True)
class EpisodeFeature:
    """The windows read for one question; ``gold`` indexes the window holding the answer
    at tokens ``start``..``end``, or is -1 when no window answers (every one at [CLS])."""

    windows: list[Window]
    gold: int
    start: int
    end: int


def episode_features(
    tokenizer, records: list[dict[str, Any]], recipe: OpenRecipe, rng: random.Random
) -> list[EpisodeFeature]:
    """One window of the gold paragraph that holds the answer (chosen at random among those
    that do) and one window of each distractor passage, per episode."""
    out: list[EpisodeFeature] = []
    chunk = 512
    for lo in range(0, len(records), chunk):
        part = records[lo : lo + chunk]
        questions, texts, owner = [], [], []
        for r, rec in enumerate(part):
            for text in [rec["context"] or ".", *rec["distractors"][: recipe.distractors]]:
                questions.append(rec["question"])
                texts.append(text)
                owner.append(r)
        windows = encode_windows(tokenizer, questions, texts, recipe.max_length, recipe.stride)
        by_passage: dict[int, list[Window]] = {}
        for w in windows:
            by_passage.setdefault(w.passage, []).append(w)
        first_passage: dict[int, int] = {}
        for p, r in enumerate(owner):
            first_passage.setdefault(r, p)
        for r, rec in enumerate(part):
            p0 = first_passage[r]
            n_other = len(rec["distractors"][: recipe.distractors])
            others = [rng.choice(by_passage[p]) for p in range(p0 + 1, p0 + 1 + n_other) if by_passage.get(p)]
            if not rec["answers"]:
                read = by_passage.get(p0, []) if rec["context"] else []
                chosen = ([rng.choice(read)] if read else []) + others
                if chosen:
                    out.append(EpisodeFeature(chosen, -1, 0, 0))
                continue
            text, start = rec["answers"][0]
            holding = []
            for w in by_passage.get(p0, []):
                s, e = answer_token_span(w, start, start + len(text))
                if s:
                    holding.append((w, s, e))
            if not holding:
                continue  # the answer does not fit a window: nothing to learn from
            gold, s, e = rng.choice(holding)
            chosen = [gold, *others]
            order = list(range(len(chosen)))
            rng.shuffle(order)
            out.append(EpisodeFeature([chosen[i] for i in order], order.index(0), s, e))
    return out


def episode_losses(
    start_logits: torch.Tensor,
    end_logits: torch.Tensor,
    attention: torch.Tensor,
    context: torch.Tensor,
    episodes: list[tuple[int, int, int, int]],
    gold_rows: list[int],
    targets: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(shared-normalization loss, per-window loss) of a batch of windows.

    ``context``: boolean [rows, tokens], the passage tokens; ``episodes``: for each episode
    its rows ``lo:hi`` and its gold token span; ``targets``: [rows, 2] per-window targets
    (0, 0 = [CLS]) for the per-window loss; ``gold_rows``: each episode's gold row.
    """
    starts = start_logits.float().masked_fill(attention == 0, -1e4)
    ends = end_logits.float().masked_fill(attention == 0, -1e4)
    window = (
        torch.nn.functional.cross_entropy(starts, targets[:, 0])
        + torch.nn.functional.cross_entropy(ends, targets[:, 1])
    ) / 2
    shared = []
    for (lo, hi, s, e), row in zip(episodes, gold_rows, strict=True):
        if row < 0:  # no window answers: only the per-window loss ([CLS] everywhere) applies
            continue
        mask = context[lo:hi]
        log_z_start = torch.logsumexp(starts[lo:hi][mask], dim=0)
        log_z_end = torch.logsumexp(ends[lo:hi][mask], dim=0)
        shared.append(log_z_start - starts[row, s] + log_z_end - ends[row, e])
    zero = starts.new_zeros(())
    return (torch.stack(shared).mean() / 2 if shared else zero), window


def collate(batch: list[EpisodeFeature], pad_id: int) -> dict[str, Any]:
    windows = [w for ep in batch for w in ep.windows]
    arrays = pad_batch(windows, pad_id)
    width = arrays["input_ids"].shape[1]
    context = np.zeros((len(windows), width), dtype=bool)
    targets = np.zeros((len(windows), 2), dtype=np.int64)
    spans, gold_rows, row = [], [], 0
    for ep in batch:
        for i, w in enumerate(ep.windows):
            context[row + i, : len(w.offsets)] = [o is not None for o in w.offsets]
        if ep.gold >= 0:
            targets[row + ep.gold] = (ep.start, ep.end)
        spans.append((row, row + len(ep.windows), ep.start, ep.end))
        gold_rows.append(row + ep.gold if ep.gold >= 0 else -1)
        row += len(ep.windows)
    return {
        "inputs": {k: torch.from_numpy(v) for k, v in arrays.items()},
        "context": torch.from_numpy(context),
        "targets": torch.from_numpy(targets),
        "episodes": spans,
        "gold_rows": gold_rows,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", required=True, type=Path)
    parser.add_argument("--train", required=True, type=Path, help="the SQuAD file the episodes came from")
    parser.add_argument("--out", type=Path, default=Path("data/reader-open"))
    parser.add_argument("--work-dir", type=Path, default=Path("data/reader-train/open"))
    parser.add_argument("--base", type=Path, default=DEFAULT_BASE, help="reader to continue from")
    parser.add_argument("--save-every", type=int, default=100)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--stop-after", type=int, default=0, help="stop (resumable) after this many steps")
    parser.add_argument("--export-only", action="store_true", help="export the last checkpoint")
    add_recipe_arguments(parser, OpenRecipe())
    args = parser.parse_args(argv)
    recipe = OpenRecipe(**{f: getattr(args, f) for f in asdict(OpenRecipe())})
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    random.seed(recipe.seed)
    np.random.seed(recipe.seed)
    torch.manual_seed(recipe.seed)
    rng = random.Random(recipe.seed)

    tokenizer = AutoTokenizer.from_pretrained(args.base)
    model = AutoModelForQuestionAnswering.from_pretrained(args.base, dtype=torch.float32)
    ckpt = args.work_dir / "checkpoint.pt"
    records = [json.loads(line) for line in args.episodes.read_text(encoding="utf-8").splitlines()]
    if recipe.max_episodes:
        records = rng.sample(records, min(recipe.max_episodes, len(records)))
    if recipe.negatives:
        negatives = on_topic_negatives(records, recipe.negatives, rng)
        log.info(
            "%d on-topic no-answer episodes (%d removed, %d perturbed)",
            len(negatives),
            sum(n["negative"] == "removed" for n in negatives),
            sum(n["negative"] == "perturbed" for n in negatives),
        )
        records = records + negatives
    t0 = time.time()
    features = episode_features(tokenizer, records, recipe, rng)
    n_windows = sum(len(f.windows) for f in features)
    log.info(
        "%d episodes -> %d with windows, %d windows in %.0fs",
        len(records),
        len(features),
        n_windows,
        time.time() - t0,
    )

    n_epochs = math.ceil(recipe.epochs)
    schedule: list[list[int]] = []
    for _ in range(n_epochs):
        order = list(range(len(features)))
        rng.shuffle(order)
        b = recipe.episodes_per_batch
        schedule += [order[i : i + b] for i in range(0, len(order), b)]
    total = int(len(schedule) * recipe.epochs / n_epochs)
    warmup = int(total * recipe.warmup)
    optimizer, scheduler = make_optimizer(model, recipe.lr, recipe.weight_decay, warmup, total)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    step = resume(ckpt, asdict(recipe), model, optimizer, scheduler)
    if args.export_only:
        export(model, tokenizer, args.base, args.out, recipe, args.train, len(records), n_windows, step)
        record_episodes(args.out, args.episodes)
        return

    model.train()
    t0, running, start_step = time.time(), 0.0, step
    per_step = n_windows // max(1, len(features)) * recipe.episodes_per_batch
    while step < total:
        batch = collate([features[i] for i in schedule[step]], tokenizer.pad_token_id)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=recipe.bf16):
            out = model(**batch["inputs"])
        shared, window = episode_losses(
            out.start_logits,
            out.end_logits,
            batch["inputs"]["attention_mask"],
            batch["context"],
            batch["episodes"],
            batch["gold_rows"],
            batch["targets"],
        )
        loss = shared + recipe.window_weight * window
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        running = 0.98 * running + 0.02 * loss.item() if step > start_step + 1 else loss.item()
        if step % 50 == 0 or step == total:
            progress(step, total, start_step, t0, running, scheduler.get_last_lr()[0], per_step)
        if step % args.save_every == 0 or step == total:
            save_checkpoint(ckpt, model, optimizer, scheduler, step, asdict(recipe), len(records), n_windows)
        if args.stop_after and step - start_step >= args.stop_after:
            log.info("stopped at step %d of %d (rerun to continue)", step, total)
            return
    export(model, tokenizer, args.base, args.out, recipe, args.train, len(records), n_windows, total)
    record_episodes(args.out, args.episodes)


def record_episodes(out: Path, episodes: Path) -> None:
    """Add the episodes' provenance to the exported ``training.json``: the file, its hash,
    and the command that builds it from SQuAD train."""
    info_path = out / "training.json"
    info = json.loads(info_path.read_text())
    info["episodes"] = {
        "file": episodes.name,
        "sha256": file_sha256(episodes),
        "built_by": "python -m qa.evaluation.episodes --train train-v1.1.json "
        "(4 open books of 48 train articles, after the 2 the answer scorer is fitted on)",
        "trained_by": "python -m qa.reading.train_open --episodes episodes.jsonl --train train-v1.1.json",
    }
    info_path.write_text(json.dumps(info, indent=2) + "\n")


if __name__ == "__main__":
    main()
