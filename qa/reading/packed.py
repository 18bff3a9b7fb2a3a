"""A lean forward pass of a BERT span reader over windows packed end to end.

``transformers``' forward pads every window of a batch to the longest, so each of its
linear layers and activations also computes on the padding (a third of the tokens of a
news question's first pass), and it spends milliseconds per call in Python and in
re-laying out bf16 weights for the CPU's matrix units on every product. This one:

- keeps the tokens of all windows in one (tokens, hidden) matrix for every linear layer,
  normalization and activation;
- holds the query, key and value projections as one matrix (one product, not three);
- lays out bf16 weights once, at load, for oneDNN's products where this build of torch has
  them (``torch.ops.mkldnn._linear_pointwise``), each checked against a plain product;
- attends with one call per run of windows of equal length: each window attends to itself
  alone, as before, and none over padding;
- computes a few dozen distinct numbers of rows (``rows_for``), so that the CPU kernels
  built for each are reused rather than built again for nearly every question.

The arithmetic is that of ``BertForQuestionAnswering`` (the same operations on the same
weights); the logits agree with it within bf16 rounding (``tests/test_packed.py``). Models of
another shape (RoBERTa, DistilBERT, relative positions, another activation) keep the
``transformers`` forward: ``PackedBert.supports``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np

from qa.reading.spans import Window

# What the lean forward computes; any other configuration keeps transformers' forward.
_SHAPE = {"model_type": "bert", "hidden_act": "gelu", "position_embedding_type": "absolute"}


def rows_for(tokens: int) -> int:
    """The rows a call of ``tokens`` tokens computes: the next multiple of 64 (of 256 past
    2,048). oneDNN builds a kernel for every new number of rows of a product (2-3 ms for each
    of the five weight shapes, measured on an AMX Xeon): with a few dozen row counts those
    are built once per process instead of on nearly every call."""
    step = 64 if tokens <= 2048 else 256
    return -(-tokens // step) * step


class PackedBert:
    def __init__(self, model: Any) -> None:
        """``model``: a ``BertForQuestionAnswering`` in eval mode, in fp32 or bf16."""
        import torch

        self._torch = torch
        config = model.config
        self.heads = int(config.num_attention_heads)
        self.hidden = int(config.hidden_size)
        self.eps = float(config.layer_norm_eps)
        weights = {k: v.detach() for k, v in model.state_dict().items()}
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""
        emb = prefix + "embeddings."
        self.words = weights[emb + "word_embeddings.weight"]
        self.positions = weights[emb + "position_embeddings.weight"]
        self.types = weights[emb + "token_type_embeddings.weight"]
        self.embed_norm = (weights[emb + "LayerNorm.weight"], weights[emb + "LayerNorm.bias"])
        self.layers = []
        for i in range(int(config.num_hidden_layers)):
            p = f"{prefix}encoder.layer.{i}."
            qkv_w = torch.cat([weights[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value")])
            qkv_b = torch.cat([weights[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")])
            self.layers.append(
                (
                    self._linear(qkv_w, qkv_b),
                    self._linear(*self._pair(weights, p + "attention.output.dense"), add=True),
                    self._pair(weights, p + "attention.output.LayerNorm"),
                    self._linear(*self._pair(weights, p + "intermediate.dense"), gelu=True),
                    self._linear(*self._pair(weights, p + "output.dense"), add=True),
                    self._pair(weights, p + "output.LayerNorm"),
                )
            )
        self.head = self._linear(weights["qa_outputs.weight"], weights["qa_outputs.bias"])

    @staticmethod
    def supports(model: Any) -> bool:
        config = model.config
        shape_ok = all(getattr(config, k, v) == v for k, v in _SHAPE.items())
        return bool(shape_ok and type(model).__name__ == "BertForQuestionAnswering")

    @staticmethod
    def _pair(weights: dict[str, Any], name: str) -> tuple[Any, Any]:
        return weights[name + ".weight"], weights[name + ".bias"]

    def _linear(self, weight: Any, bias: Any, gelu: bool = False, add: bool = False) -> Any:
        """``x -> x @ weight.T + bias``, then the exact GELU (``gelu``) or ``+ residual``
        (``add``), with a bf16 weight laid out once for oneDNN where that agrees with a plain
        product. (Fusing the GELU and the sum into the product saved nothing measurable and
        rounded differently from transformers: one news question answered that it abstains on.)"""
        torch = self._torch
        F = torch.nn.functional
        product = partial(F.linear, weight=weight, bias=bias)
        ops = torch.ops.mkldnn
        if weight.dtype == torch.bfloat16 and hasattr(ops, "_reorder_linear_weight"):
            try:
                packed = ops._reorder_linear_weight(weight, 256)
                probe = torch.linspace(-1, 1, 8 * weight.shape[1]).reshape(8, -1).to(weight.dtype)
                got = ops._linear_pointwise(probe, packed, bias, "none", [], "")
                if torch.allclose(got.float(), product(probe).float(), atol=0.05, rtol=0.02):
                    product = partial(_packed_product, ops, packed, bias)
            except (RuntimeError, NotImplementedError, TypeError):
                pass

        def linear(x: Any, residual: Any = None) -> Any:
            y = product(x)
            return F.gelu(y) if gelu else (y + residual if add else y)

        return linear

    def logits(self, windows: Sequence[Window]) -> tuple[np.ndarray, np.ndarray]:
        """Start and end logits of each window, padded with -1e4 to the longest."""
        torch = self._torch
        F = torch.nn.functional
        lengths = [len(w.input_ids) for w in windows]
        width, count = max(lengths), len(windows)
        total = sum(lengths)
        spare = rows_for(total) - total
        ids = torch.tensor([t for w in windows for t in w.input_ids] + [0] * spare, dtype=torch.long)
        types = torch.tensor([t for w in windows for t in w.token_type_ids] + [0] * spare, dtype=torch.long)
        positions = torch.cat([torch.arange(n) for n in lengths] + [torch.zeros(spare, dtype=torch.long)])
        # Windows of one length, consecutive in the packed matrix, attend in one call.
        runs: list[tuple[int, int, int]] = []  # (first token, windows, length)
        at = 0
        for n in lengths:
            if runs and runs[-1][2] == n:
                first, k, _ = runs[-1]
                runs[-1] = (first, k + 1, n)
            else:
                runs.append((at, 1, n))
            at += n
        with torch.inference_mode():
            x = self.words[ids] + self.positions[positions] + self.types[types]
            x = F.layer_norm(x, (self.hidden,), *self.embed_norm, self.eps)
            filler = torch.zeros((spare, self.hidden), dtype=x.dtype)
            for qkv, out, norm1, up, down, norm2 in self.layers:
                h = qkv(x)
                parts = []
                for first, k, n in runs:
                    q, key, v = h[first : first + k * n].view(k, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
                    parts.append(F.scaled_dot_product_attention(q, key, v).transpose(1, 2).reshape(k * n, -1))
                a = torch.cat([*parts, filler]) if spare or len(parts) > 1 else parts[0]
                x = F.layer_norm(out(a, x), (self.hidden,), *norm1, self.eps)
                x = F.layer_norm(down(up(x), x), (self.hidden,), *norm2, self.eps)
            both = self.head(x).float().numpy()
        starts = np.full((count, width), -1e4, dtype=np.float32)
        ends = np.full((count, width), -1e4, dtype=np.float32)
        at = 0
        for row, n in enumerate(lengths):
            starts[row, :n] = both[at : at + n, 0]
            ends[row, :n] = both[at : at + n, 1]
            at += n
        return starts, ends


def _packed_product(ops: Any, packed: Any, bias: Any, x: Any) -> Any:
    return ops._linear_pointwise(x, packed, bias, "none", [], "")
