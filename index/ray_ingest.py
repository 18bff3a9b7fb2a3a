"""Passage embeddings on Ray workers: ``qa index DIR --ray [ADDRESS]``.

The driver (the ``qa index`` process) reads and splits the documents, as it always does; a
pool of Ray actors, each holding the embedding model, embeds the passages, and the driver
writes the vectors to the back end (a Qdrant cluster, or the local data directory) a small
chunk of documents at a time, so that a failure loses at most one chunk and a rerun resumes
from what the store holds (a corpus sync skips documents already stored whole).

- **Local Ray** (no address): a private single-node Ray whose node address is 127.0.0.1 and
  whose servers listen on loopback only, with Ray's token authentication on (a fresh random
  token unless ``RAY_AUTH_TOKEN`` is set), no dashboard.
- **A cluster** (an address): our code ships to the workers in the job's runtime
  environment (``py_modules``); the workers need the package's dependencies installed (the
  same image as the driver), which each actor checks when it starts.
- **Faults**: when an actor dies (its worker node lost), its batches go to the actors that
  are left (and a replacement is started where the cluster has room); actors that cannot be
  placed (not enough CPUs or GPUs) are reported after ``start_timeout`` seconds instead of
  waiting for ever; a batch that takes longer than ``batch_timeout`` stops the run with the
  reason. Every failure is a ``RayUnavailable`` with a message fit for one ``qa:`` line.
- **GPUs**: ``gpus_per_worker`` > 0 places each actor on a GPU and embeds there.

Ray is an optional extra (``pip install 'newsqa[scale]'``); nothing else imports this module.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
LOCAL = "local"
# Passages per actor call: large enough to keep a worker's cores busy, small enough that a
# slow or lost worker holds little of the job.
ACTOR_BATCH = 256
# Times a batch is given to another actor after the one embedding it was lost.
BATCH_RETRIES = 3
# How long a replacement for a lost actor may take to be placed and load its model.
REPLACEMENT_WAIT_S = 60.0


class RayUnavailable(RuntimeError):
    """Ray is not installed, the cluster cannot be reached or cannot run the job."""


class _PassageEncoder:
    """A Ray actor: loads the model once, embeds batches of passages."""

    def __init__(self, model: str, threads: int, device: str) -> None:
        from index.embedder import Embedder

        if device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise RuntimeError(
                    f"Ray gave this actor a GPU, but torch {torch.__version__} on node "
                    f"{os.uname().nodename} sees no CUDA device (a CPU-only build, or no driver)"
                )
        self.embedder = Embedder(model, threads=threads, device=device)

    def ready(self) -> str:
        return f"{self.embedder.device} ({self.embedder.precision})"

    def encode(self, rows: np.ndarray, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return rows, self.embedder.encode(list(texts))


def local_ray_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """What a private local Ray needs in its environment: the node address resolved to
    127.0.0.1 and every server bound there (Ray otherwise resolves the machine's outward
    address and listens on all interfaces), and token authentication."""
    source: Mapping[str, str] = os.environ if env is None else env
    return {
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": source.get("RAY_AUTH_TOKEN") or secrets.token_urlsafe(32),
        "RAY_USAGE_STATS_ENABLED": "0",
    }


def address_hint(address: str) -> str:
    """What a plain ``host:port`` address means, said where connecting to it failed: it joins
    a cluster this machine is already a node of (``ray start --address`` run here); from
    any other machine, Ray Client's ``ray://host:10001`` is the address to give."""
    if address == LOCAL or address.startswith("ray://") or address == "auto":
        return ""
    host = address.rsplit(":", 1)[0]
    return (
        f" ({address} joins a Ray cluster this machine is a node of, started with `ray start "
        f"--address {address}` here; from a machine outside the cluster give ray://{host}:10001)"
    )


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
        gpus_per_worker: float = 0.0,
        start_timeout: float = 300.0,
        batch_timeout: float = 600.0,
    ) -> None:
        if address == LOCAL and "ray" not in sys.modules:
            # Before Ray is imported: it reads its authentication settings once, at import.
            os.environ.update(local_ray_environment())
        try:
            import ray
        except ImportError:
            raise RayUnavailable("--ray needs Ray: pip install 'newsqa[scale]' (or 'ray[data]')") from None
        self.ray = ray
        self.model = model
        self.dim = dim
        self.address = address
        self.threads = max(1, threads_per_worker)
        self.gpus = max(0.0, gpus_per_worker)
        self.batch_timeout = batch_timeout
        self.lost = 0  # actors lost (and their batches given to others) during the run
        self._starting: dict[Any, tuple[Any, float]] = {}  # replacements: ready ref -> (actor, give up at)
        logging.getLogger("ray").setLevel(logging.WARNING)
        self._started_here = not ray.is_initialized()
        if self._started_here:
            self._connect(local_cpus)
        resources = ray.cluster_resources()  # type: ignore[no-untyped-call]
        cpus, gpus = int(resources.get("CPU", 0)), int(resources.get("GPU", 0))
        fit = int(gpus / self.gpus) if self.gpus else cpus // self.threads
        self.workers = workers or max(1, fit)
        self.actors = self._start_actors(start_timeout, cpus, gpus)
        log.info("Ray: %d CPUs, %d GPUs, %d embedding actors", cpus, gpus, len(self.actors))

    def _connect(self, local_cpus: int | None) -> None:
        ray = self.ray
        try:
            if self.address == LOCAL:
                if os.environ.get("RAY_AUTH_MODE") != "token":
                    raise RayUnavailable(
                        "a local Ray needs token authentication, set before Ray is imported: "
                        "start it from a process that has not imported ray"
                    )
                ray.init(
                    _node_ip_address="127.0.0.1",
                    include_dashboard=False,
                    num_cpus=local_cpus or os.cpu_count() or 1,
                    logging_level=logging.WARNING,
                    log_to_driver=False,
                )
            else:
                # Our code travels with the job; its dependencies must be on the workers.
                package = Path(__file__).resolve().parent
                ray.init(
                    address=self.address,
                    runtime_env={"py_modules": [str(package)]},
                    logging_level=logging.WARNING,
                    log_to_driver=False,
                )
        except RayUnavailable:
            raise
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError, ...
            raise RayUnavailable(
                f"cannot start or reach Ray at {self.address}: {_first_line(exc)}{address_hint(self.address)}"
            ) from None

    def _start_actors(self, timeout: float, cpus: int, gpus: int) -> list[Any]:
        ray = self.ray
        self._encoder = ray.remote(num_cpus=self.threads, num_gpus=self.gpus, max_restarts=0)(_PassageEncoder)
        actors = [self._new_actor() for _ in range(self.workers)]
        pending = {a.ready.remote(): a for a in actors}
        deadline = time.monotonic() + timeout
        started: list[Any] = []
        spares = len(actors)  # actors lost while starting are replaced, this many times at most
        while pending and time.monotonic() < deadline:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=max(0.1, deadline - time.monotonic()))
            for ref in done:
                actor = pending.pop(ref)
                try:
                    log.info("embedding actor ready on %s", ray.get(ref))
                    started.append(actor)
                except self._lost_actor_errors() as exc:
                    failed = _creation_error(exc)
                    if failed:  # its constructor raised: another would too
                        self._kill(actors)
                        hint = (
                            " (the workers need the package's dependencies: the same image or "
                            "`pip install 'newsqa[scale]'` on every node)"
                            if "ImportError" in failed or "ModuleNotFoundError" in failed
                            else ""
                        )
                        raise RayUnavailable(f"an embedding actor could not start: {failed}{hint}") from None
                    if spares == 0:
                        raise RayUnavailable(
                            f"embedding actors keep dying as they start: {_first_line(exc)}"
                        ) from None
                    spares -= 1
                    log.warning(
                        "an embedding actor died while starting (%s): starting another", _first_line(exc)
                    )
                    replacement = self._new_actor()
                    actors.append(replacement)
                    pending[replacement.ready.remote()] = replacement
                except Exception as exc:
                    self._kill(actors)
                    raise RayUnavailable(
                        "an embedding actor could not start on the cluster: "
                        f"{_first_line(exc)} (the workers need the package's dependencies: "
                        "the same image or `pip install 'newsqa[scale]'` on every node)"
                    ) from None
        if pending:
            self._kill(actors)
            need = f"{self.threads} CPU" + (f" and {self.gpus:g} GPU" if self.gpus else "")
            raise RayUnavailable(
                f"{len(pending)} of {len(actors)} embedding actors found no room within {timeout:.0f} s: "
                f"each needs {need}, the cluster has {cpus} CPUs and {gpus} GPUs "
                "(use fewer --ray-workers or --ray-threads, or add nodes)"
            )
        return started

    def _new_actor(self) -> Any:
        return self._encoder.remote(self.model, self.threads, "cuda" if self.gpus else "cpu")

    def _kill(self, actors: list[Any]) -> None:
        for actor in actors:
            try:
                self.ray.kill(actor)
            except Exception as exc:  # already gone
                log.debug("actor kill: %s", exc)

    def __call__(self, texts: list[str], progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ray = self.ray
        # Longest first, so each batch holds passages of similar length (little padding).
        order = np.array(sorted(range(len(texts)), key=lambda i: -len(texts[i])), dtype=np.int64)
        waiting = [(order[lo : lo + ACTOR_BATCH], 0) for lo in range(0, len(order), ACTOR_BATCH)][::-1]
        running: dict[Any, tuple[np.ndarray, int, Any]] = {}
        load = {id(a): 0 for a in self.actors}
        done = 0
        try:
            while waiting or running:
                self._admit_replacements(load, block=not running and not self.actors)
                while waiting and self.actors and len(running) < 2 * len(self.actors):
                    rows, tries = waiting.pop()
                    actor = min(self.actors, key=lambda a: load[id(a)])  # two in flight each: no gaps
                    load[id(actor)] += 1
                    ref = actor.encode.remote(rows, [texts[i] for i in rows])
                    running[ref] = (rows, tries, actor)
                if not running:
                    raise RayUnavailable(f"every embedding actor on Ray at {self.address} was lost")
                finished, _ = ray.wait(list(running), num_returns=1, timeout=self.batch_timeout)
                if not finished:
                    raise RayUnavailable(
                        f"no embedding batch finished within {self.batch_timeout:.0f} s on Ray at "
                        f"{self.address} (workers lost or overloaded); what was written is whole: "
                        "run the command again to resume"
                    )
                for ref in finished:
                    rows, tries, actor = running.pop(ref)
                    load[id(actor)] -= 1
                    try:
                        got_rows, vectors = ray.get(ref)
                    except self._lost_actor_errors() as exc:
                        if tries >= BATCH_RETRIES:
                            raise
                        log.warning(
                            "an embedding actor was lost (%s): its batch goes to another", _first_line(exc)
                        )
                        self.lost += 1
                        self._replace(actor, load)
                        waiting.append((rows, tries + 1))
                        continue
                    out[np.asarray(got_rows, dtype=np.int64)] = np.asarray(vectors, dtype=np.float32)
                    done += len(got_rows)
                if progress:
                    log.info("embedded %d of %d passages on Ray", done, len(texts))
        except RayUnavailable:
            raise
        except Exception as exc:  # the cluster gone, a batch lost too often, ...
            raise RayUnavailable(
                f"embedding on Ray at {self.address} failed: {_first_line(exc)}; what was written is "
                "whole: run the command again to resume"
            ) from None
        return out

    def _lost_actor_errors(self) -> tuple[type[BaseException], ...]:
        errors = self.ray.exceptions
        return tuple(
            getattr(errors, name)
            for name in ("RayActorError", "ActorDiedError", "ActorUnavailableError")
            if hasattr(errors, name)
        )

    def _replace(self, lost: Any, load: dict[int, int]) -> None:
        """Drop a lost actor and start a replacement, which joins once it is ready; the
        actors left carry on meanwhile (if the cluster has no room for it, they finish)."""
        if lost in self.actors:
            self.actors.remove(lost)
            self._kill([lost])
        replacement = self._new_actor()
        self._starting[replacement.ready.remote()] = (replacement, time.monotonic() + REPLACEMENT_WAIT_S)

    def _admit_replacements(self, load: dict[int, int], block: bool) -> None:
        """Replacements that are ready join the pool; those not placed in time are given up.
        ``block``: no actor is left, so wait for one."""
        while self._starting:
            refs = list(self._starting)
            wait_s = max(0.0, min(d for _, d in self._starting.values()) - time.monotonic()) if block else 0
            ready, _ = self.ray.wait(refs, num_returns=1 if block else len(refs), timeout=wait_s)
            for ref in ready:
                actor, _ = self._starting.pop(ref)
                try:
                    self.ray.get(ref)
                    self.actors.append(actor)
                    load[id(actor)] = 0
                except Exception as exc:
                    cause = _creation_error(exc) or _first_line(exc)
                    log.warning("a replacement embedding actor failed to start: %s", cause)
                    self._kill([actor])
            now = time.monotonic()
            for ref, (actor, deadline) in list(self._starting.items()):
                if now >= deadline:
                    del self._starting[ref]
                    self._kill([actor])
            if not block or self.actors:
                return

    def close(self) -> None:
        self._kill([actor for actor, _ in self._starting.values()])  # never placed: not left behind
        self._starting.clear()
        if self._started_here and self.ray.is_initialized():
            self.ray.shutdown()

    def __enter__(self) -> RayEmbed:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _creation_error(exc: BaseException) -> str | None:
    """The error an actor's constructor raised (the last line of Ray's report), or None
    when the actor was lost some other way."""
    if not getattr(exc, "_actor_init_failed", False):
        return None
    lines = [line.strip() for line in str(getattr(exc, "error_msg", "")).splitlines() if line.strip()]
    return lines[-1][:300] if lines else type(exc).__name__


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__
