"""Settings -> the parts one ``Engine`` is made of, assembled in one place: the compute
threads and the gate every model call passes, the precision choice, the embedding model, the
back end with its indexer (the write path's model), the retriever, the document intake, and
the reader with its answer pipeline. A data directory another process holds is refused
before any model is loaded."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from index.backend import Backend
from index.embedder import Embedder
from index.errors import BackendUnavailable
from index.hardware import ComputeGate, PrecisionChoice, precision_choice, set_threads
from index.indexer import Indexer
from index.local.datadir import DataDirInUse, DataDirUnavailable, check_free
from qa.errors import DataDirError
from qa.intake.documents import Intake
from qa.reading.loading import load_answerer
from qa.reading.pipeline import AnswerPipeline
from qa.reading.reader import Reader
from qa.retrieval import HybridRetriever
from qa.settings import Settings
from qa.stores.opening import open_backend

log = logging.getLogger("qa.engine")


@dataclass
class Parts:
    """What one ``Engine`` is made of; ``assemble`` makes them, the engine holds them."""

    compute_gate: ComputeGate
    precision_choice: PrecisionChoice | None  # "auto" decided once per machine and data dir
    embedder: Embedder
    backend: Backend
    indexer: Indexer
    retriever: HybridRetriever
    intake: Intake
    reader: Reader | None  # None: the package was installed without its weights
    answerer: AnswerPipeline | None


def assemble(settings: Settings, embedder: Embedder | None = None) -> Parts:
    """Every part of an engine over ``settings`` (``embedder``: one already loaded)."""
    if settings.backend == "local" and not settings.shared_read:
        # Before a minute of model loading: a data directory a server holds is refused now.
        try:
            check_free(settings.data_dir)
        except DataDirInUse as exc:
            raise DataDirError(
                f"{exc}. While it runs, ask it instead: `qa search` / `qa ask` without --local, "
                "`qa add FILE`, or the HTTP API"
            ) from None
    threads = settings.compute_threads()
    set_threads(threads)
    gate = ComputeGate(threads)  # one gate for every model call: embeddings and the reader
    auto = "auto" in (settings.reader_precision, settings.embedding_precision)
    choice = precision_choice(settings.data_dir) if auto else None
    if choice:
        log.info(
            "precision auto = %s (bf16 %.2fx the speed of fp32 here; recorded in %s)",
            choice.precision,
            choice.speedup,
            choice.recorded_in or "no file",
        )

    def precision(setting: str) -> str:
        return choice.precision if setting == "auto" and choice else setting

    onnx_dir = settings.data_dir / "models" if settings.query_runtime == "onnx" else None
    embedder = embedder or Embedder(
        settings.embedding_model,
        onnx_dir=onnx_dir,
        threads=threads,
        precision=precision(settings.embedding_precision),
    )
    embedder.gate = gate
    try:
        backend = open_backend(settings, embedder)
    except (DataDirUnavailable, BackendUnavailable) as exc:
        raise DataDirError(str(exc)) from None
    indexer = Indexer(backend, embedder)
    retriever = HybridRetriever(backend, embedder, settings)
    reader, answerer = load_answerer(
        settings, backend, gate, precision(settings.reader_precision), retriever.positions
    )
    return Parts(
        gate, choice, embedder, backend, indexer, retriever, Intake(indexer, settings), reader, answerer
    )
