"""The open-book training recipe: episode windows and the shared-normalization loss."""

from __future__ import annotations

import random

import torch
from transformers import AutoTokenizer

from index.embedder import bundled_model_dir
from qa.reading.train_open import OpenRecipe, collate, episode_features, episode_losses

TOKENIZER = AutoTokenizer.from_pretrained(bundled_model_dir())
CONTEXT = "Tajikistan has mobilized 20,000 military reservists to strengthen its border."
RECORD = {
    "question": "How many reservists did Tajikistan mobilize?",
    "context": CONTEXT,
    "answers": [["20,000", CONTEXT.index("20,000")]],
    "distractors": ["About 1,000 Afghan troops fled into Tajikistan.", "The Taliban took a border post."],
}


def test_an_episode_holds_the_gold_window_and_one_window_per_distractor() -> None:
    [episode] = episode_features(TOKENIZER, [RECORD], OpenRecipe(), random.Random(0))
    assert len(episode.windows) == 3
    gold = episode.windows[episode.gold]
    first, last = gold.offsets[episode.start], gold.offsets[episode.end]
    assert first is not None and last is not None
    assert CONTEXT[first[0] : last[1]] == "20,000"


def test_the_shared_loss_normalizes_over_every_passage_token_of_the_episode() -> None:
    episodes = episode_features(TOKENIZER, [RECORD, RECORD], OpenRecipe(), random.Random(0))
    batch = collate(episodes, TOKENIZER.pad_token_id)
    rows, width = batch["inputs"]["input_ids"].shape
    generator = torch.Generator().manual_seed(0)
    starts, ends = (
        torch.randn(rows, width, generator=generator),
        torch.randn(rows, width, generator=generator),
    )
    attention, context = batch["inputs"]["attention_mask"], batch["context"]
    shared, window = episode_losses(
        starts, ends, attention, context, batch["episodes"], batch["gold_rows"], batch["targets"]
    )
    expected = []
    for (lo, hi, s, e), row in zip(batch["episodes"], batch["gold_rows"], strict=True):
        mask = context[lo:hi]
        p_start = starts[row, s].exp() / starts[lo:hi][mask].exp().sum()
        p_end = ends[row, e].exp() / ends[lo:hi][mask].exp().sum()
        expected.append(-(p_start.log() + p_end.log()) / 2)
    assert torch.allclose(shared, torch.stack(expected).mean(), atol=1e-5)
    # Distractor windows are labelled [CLS] in the per-window loss; the gold one its span.
    assert [tuple(t) for t in batch["targets"].tolist()].count((0, 0)) == rows - 2
    assert window.item() > 0
