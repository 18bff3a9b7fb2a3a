"""Fine-tune the extractive reader (start/end span head) on SQuAD v1.1.

    python -m qa.reading.train --train ../shared/data/squad/train-v1.1.json --out qa/weights/reader

Reproducible: the seed and every hyper-parameter are written to ``training.json`` beside the
weights. Resumable: a checkpoint is saved every ``--save-every`` steps under ``--work-dir``;
rerunning the same command continues from it. Besides the SQuAD answers, a fraction of
questions are paired with a paragraph from another article and labelled "no answer"
([CLS]), which teaches the reader to abstain.
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

from index.embedder import bundled_model_dir
from index.hardware import file_sha256
from qa.reading.spans import Window, answer_token_span, encode_windows, pad_batch
from qa.reading.squad import SquadExample, load_squad

log = logging.getLogger("qa.reading.train")


@dataclass
class Recipe:
    seed: int = 13
    max_length: int = 192
    stride: int = 64
    batch_size: int = 16
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup: float = 0.06
    epochs: float = 1.0
    max_questions: int = 0  # 0 = all
    negative_fraction: float = 0.10
    # Share kept of the windows of a long paragraph that miss its answer (labelled [CLS]).
    overflow_keep: float = 0.33
    bf16: bool = True


def build_features(
    tokenizer, examples: list[SquadExample], recipe: Recipe, rng: random.Random
) -> list[tuple[Window, int, int]]:
    """Windows with their gold token span; plus "no answer" windows from other articles."""
    features: list[tuple[Window, int, int]] = []
    chunk = 2048
    for lo in range(0, len(examples), chunk):
        part = examples[lo : lo + chunk]
        windows = encode_windows(
            tokenizer,
            [e.question for e in part],
            [e.context for e in part],
            recipe.max_length,
            recipe.stride,
        )
        for w in windows:
            text, start = part[w.passage].answers[0]
            s, e = answer_token_span(w, start, start + len(text))
            if s or rng.random() < recipe.overflow_keep:
                features.append((w, s, e))
    n_neg = int(len(examples) * recipe.negative_fraction)
    by_title: dict[str, list[str]] = {}
    for ex in examples:
        by_title.setdefault(ex.title, []).append(ex.context)
    titles = sorted(by_title)
    picks = rng.sample(examples, n_neg)
    questions, contexts = [], []
    for ex in picks:
        other = rng.choice(titles)
        while other == ex.title:
            other = rng.choice(titles)
        questions.append(ex.question)
        contexts.append(rng.choice(by_title[other]))
    for lo in range(0, n_neg, chunk):
        windows = encode_windows(
            tokenizer,
            questions[lo : lo + chunk],
            contexts[lo : lo + chunk],
            recipe.max_length,
            recipe.stride,
        )
        seen: set[int] = set()
        for w in windows:  # one window per negative pair is enough
            if w.passage not in seen:
                seen.add(w.passage)
                features.append((w, 0, 0))
    return features


def length_grouped_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffle, sort within large pools by length, cut batches, shuffle batches:
    little padding, still random order."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * 64
    batches = []
    for lo in range(0, len(order), pool):
        chunk = sorted(order[lo : lo + pool], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def add_recipe_arguments(parser: argparse.ArgumentParser, defaults: Any) -> None:
    """One ``--field-name`` option per field of a recipe dataclass, defaulting to its value."""
    for field, value in asdict(defaults).items():
        kind = (lambda s: s.lower() in ("1", "true", "yes")) if isinstance(value, bool) else type(value)
        parser.add_argument("--" + field.replace("_", "-"), type=kind, default=value)


def make_optimizer(model, lr: float, weight_decay: float, warmup: int, total: int) -> tuple[Any, ...]:
    """AdamW (no decay on biases and LayerNorm) with linear warm-up, then linear decay to 0."""
    decay = [p for n, p in model.named_parameters() if not any(k in n for k in ("bias", "LayerNorm"))]
    no_decay = [p for n, p in model.named_parameters() if any(k in n for k in ("bias", "LayerNorm"))]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min((step + 1) / max(warmup, 1), max(0.0, (total - step) / max(total - warmup, 1))),
    )
    return optimizer, scheduler


def resume(ckpt: Path, recipe: dict[str, Any], model, optimizer, scheduler) -> int:
    """Load a checkpoint written for the same recipe; the step to continue from (0: none)."""
    if not ckpt.exists():
        return 0
    state = torch.load(ckpt, weights_only=False)
    if state["recipe"] != recipe:
        log.warning("%s is for another recipe: starting over", ckpt)
        return 0
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    log.info("resumed at step %d", state["step"])
    return int(state["step"])


def save_checkpoint(
    ckpt: Path, model, optimizer, scheduler, step: int, recipe: dict[str, Any], questions: int, windows: int
) -> None:
    """Write the checkpoint whole or not at all (a temporary file renamed over it)."""
    tmp = ckpt.with_suffix(".tmp")
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "step": step,
        "recipe": recipe,
        "questions": questions,
        "windows": windows,
    }
    torch.save(state, tmp)
    tmp.replace(ckpt)


def progress(
    step: int, total: int, start_step: int, t0: float, loss: float, lr: float, per_step: int
) -> None:
    rate = (step - start_step) * per_step / max(time.time() - t0, 1e-9)
    eta = (total - step) * per_step / max(rate, 1e-9) / 60
    log.info("step %d/%d loss %.3f lr %.2e %.1f win/s eta %.0f min", step, total, loss, lr, rate, eta)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", required=True, type=Path, help="SQuAD v1.1 train JSON")
    parser.add_argument("--out", type=Path, default=Path("qa/weights/reader"))
    parser.add_argument("--work-dir", type=Path, default=Path("data/reader-train"))
    parser.add_argument(
        "--base",
        type=Path,
        default=None,
        help="start from: encoder or a reader export (default: bundled MiniLM)",
    )
    parser.add_argument("--save-every", type=int, default=300)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--export-only", action="store_true", help="export the last checkpoint")
    add_recipe_arguments(parser, Recipe())
    args = parser.parse_args(argv)
    recipe = Recipe(**{f: getattr(args, f) for f in asdict(Recipe())})
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)

    base = args.base or bundled_model_dir()
    random.seed(recipe.seed)
    np.random.seed(recipe.seed)
    torch.manual_seed(recipe.seed)
    rng = random.Random(recipe.seed)

    tokenizer = AutoTokenizer.from_pretrained(base)
    ckpt = args.work_dir / "checkpoint.pt"
    if args.export_only:  # e.g. when a run must stop early: ship its last checkpoint
        model = AutoModelForQuestionAnswering.from_pretrained(base, dtype=torch.float32)
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        export(
            model,
            tokenizer,
            base,
            args.out,
            Recipe(**state["recipe"]),
            args.train,
            state.get("questions", 0),
            state.get("windows", 0),
            state["step"],
        )
        return
    examples = load_squad(args.train)
    if recipe.max_questions:
        examples = rng.sample(examples, min(recipe.max_questions, len(examples)))
    t0 = time.time()
    features = build_features(tokenizer, examples, recipe, rng)
    log.info("%d questions -> %d windows in %.0fs", len(examples), len(features), time.time() - t0)

    lengths = [len(f[0].input_ids) for f in features]
    n_epochs = math.ceil(recipe.epochs)
    schedule: list[list[int]] = []
    for _ in range(n_epochs):
        schedule += length_grouped_batches(lengths, recipe.batch_size, rng)
    total = int(len(schedule) * recipe.epochs / n_epochs)
    schedule = schedule[:total]
    warmup = int(total * recipe.warmup)

    model = AutoModelForQuestionAnswering.from_pretrained(base, dtype=torch.float32)
    optimizer, scheduler = make_optimizer(model, recipe.lr, recipe.weight_decay, warmup, total)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    step = resume(ckpt, asdict(recipe), model, optimizer, scheduler)

    model.train()
    t0, running = time.time(), 0.0
    start_step = step
    while step < total:
        batch = [features[i] for i in schedule[step]]
        arrays = pad_batch([f[0] for f in batch], tokenizer.pad_token_id)
        inputs = {k: torch.from_numpy(v) for k, v in arrays.items()}
        starts = torch.tensor([f[1] for f in batch])
        ends = torch.tensor([f[2] for f in batch])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=recipe.bf16):
            out = model(**inputs, start_positions=starts, end_positions=ends)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        running = 0.98 * running + 0.02 * out.loss.item() if step > start_step + 1 else out.loss.item()
        if step % 50 == 0 or step == total:
            lr = scheduler.get_last_lr()[0]
            progress(step, total, start_step, t0, running, lr, recipe.batch_size)
        if step % args.save_every == 0 or step == total:
            save_checkpoint(
                ckpt, model, optimizer, scheduler, step, asdict(recipe), len(examples), len(features)
            )

    export(model, tokenizer, base, args.out, recipe, args.train, len(examples), len(features), total)


def export(
    model,
    tokenizer,
    base: Path,
    out: Path,
    recipe: Any,
    train: Path,
    n_questions: int,
    n_windows: int,
    steps: int,
) -> None:
    """Write fp16 safetensors, config, tokenizer, and the recipe (a dataclass) with a weights checksum
    (and, when training continued a reader export, that export's own record)."""
    out.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    info = {
        "recipe": asdict(recipe),
        "train_file": train.name,
        "train_sha256": file_sha256(train),
        "questions": n_questions,
        "windows": n_windows,
        "steps": steps,
        "torch": torch.__version__,
        "weights_sha256": file_sha256(out / "model.safetensors"),
    }
    if (base / "training.json").exists():
        info["continued_from"] = json.loads((base / "training.json").read_text())
    (out / "training.json").write_text(json.dumps(info, indent=2) + "\n")
    log.info("wrote %s", out)


if __name__ == "__main__":
    main()
