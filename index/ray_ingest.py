"""Passage embeddings on Ray workers: ``qa index DIR --ray [ADDRESS]``.

The driver (the ``qa index`` process) reads and splits the documents, as it always does;
Ray Data spreads the passages over actors that each hold the embedding model, and the
vectors come back to the driver, which writes them to the back end (a Qdrant cluster, or
the local data directory) in batches, a sync chunk at a time. With an address, the work goes
to that cluster; without one, a local Ray is started bound to 127.0.0.1 only.

Ray is an optional extra (``pip install 'newsqa[scale]'``); nothing else imports this module.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
LOCAL = "local"
# Passages per actor call: large enough to keep a worker's cores busy, small enough that a
# slow worker does not hold the tail of the job.
ACTOR_BATCH = 256


class RayUnavailable(RuntimeError):
    """Ray is not installed, or the cluster cannot be reached."""


class _PassageEncoder:
    """A Ray Data actor: loads the model once, embeds batches of passages."""

    def __init__(self, model: str, threads: int) -> None:
        from index.embedder import Embedder

        self.embedder = Embedder(model, threads=threads)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.embedder.encode([str(t) for t in batch["text"]])
        return {"row": batch["row"], "vector": vectors}


class RayEmbed:
    """An ``Embed`` (texts -> vectors, as the local model's ``encode``) that runs on Ray."""

    def __init__(
        self,
        model: str,
        dim: int,
        address: str = LOCAL,
        workers: int | None = None,
        threads_per_worker: int = 1,
        local_cpus: int | None = None,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise RayUnavailable("--ray needs Ray: pip install 'newsqa[scale]' (or 'ray[data]')") from None
        self.ray = ray
        self.model = model
        self.dim = dim
        self.threads = max(1, threads_per_worker)
        logging.getLogger("ray").setLevel(logging.WARNING)
        self._started_here = not ray.is_initialized()
        if self._started_here:
            try:
                if address == LOCAL:
                    # A private single-node Ray: listens on loopback only, no dashboard.
                    ray.init(
                        _node_ip_address="127.0.0.1",
                        include_dashboard=False,
                        num_cpus=local_cpus or os.cpu_count() or 1,
                        logging_level=logging.WARNING,
                        log_to_driver=False,
                    )
                else:
                    ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise RayUnavailable(f"cannot start or reach Ray at {address}: {exc}") from None
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = workers or max(1, cpus // self.threads)
        log.info("Ray: %d CPUs, %d embedding actors of %d threads", cpus, self.workers, self.threads)

    def __call__(self, texts: list[str], progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        data = self.ray.data
        # Longest first, so each batch holds passages of similar length (little padding).
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        items = [{"row": i, "text": texts[i]} for i in order]
        dataset = data.from_items(
            items, override_num_blocks=max(1, min(len(items) // ACTOR_BATCH, 4 * self.workers))
        )
        embedded = dataset.map_batches(
            _PassageEncoder,
            fn_constructor_args=(self.model, self.threads),
            batch_size=ACTOR_BATCH,
            batch_format="numpy",
            compute=data.ActorPoolStrategy(size=self.workers),
            num_cpus=self.threads,
        )
        done = 0
        for batch in embedded.iter_batches(batch_size=4 * ACTOR_BATCH, batch_format="numpy"):
            out[np.asarray(batch["row"], dtype=np.int64)] = np.asarray(batch["vector"], dtype=np.float32)
            done += len(batch["row"])
            if progress:
                log.info("embedded %d of %d passages on Ray", done, len(texts))
        if done != len(texts):
            raise RayUnavailable(f"Ray returned {done} of {len(texts)} passage vectors")
        return out

    def close(self) -> None:
        if self._started_here and self.ray.is_initialized():
            self.ray.shutdown()

    def __enter__(self) -> RayEmbed:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
