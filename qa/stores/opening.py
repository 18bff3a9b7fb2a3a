"""Opening a store: the back end the settings name (``open_backend``, what ``Engine`` opens),
and what the commands that index and serve a store ask before (or without) an engine:
which corpus folder it is kept in step with by default, whether another process holds its
data directory, and the Ray pool that embeds a large folder into it. What they find comes
back as the core's errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from index.backend import Backend
from index.embedder import Embedder
from index.errors import BackendUnavailable
from index.local.corpus_index import CorpusIndex
from index.local.datadir import DataDirInUse, check_free
from qa.errors import DataDirError, QAError
from qa.settings import Settings

SEEDS = Path("seeds")


def open_backend(settings: Settings, embedder: Embedder) -> Backend:
    """The storage back end the settings name (``QA_BACKEND``)."""
    if settings.backend == "qdrant":
        from index.qdrant.backend import ClusterPolicy, CollectionLayout, QdrantBackend  # an optional extra

        layout = CollectionLayout(
            shards=settings.qdrant_shards,
            replicas=settings.qdrant_replicas,
            quantization=settings.qdrant_quantization,
            on_disk=settings.qdrant_on_disk,
        )
        return QdrantBackend.open(
            embedder,
            url=settings.qdrant_url,
            api_key=settings.qdrant_api_key,
            path=settings.qdrant_path,
            prefix=settings.qdrant_collection,
            layout=layout,
            policy=ClusterPolicy(
                write_batch=settings.qdrant_write_batch,
                retries=settings.qdrant_retries,
                ordering=settings.qdrant_write_ordering,
                write_consistency=settings.qdrant_write_consistency,
                read_consistency=settings.qdrant_read_consistency,
                grpc=settings.qdrant_grpc,
            ),
        )
    return CorpusIndex(
        settings.data_dir,
        embedder,
        settings.index_type,
        hnsw_threshold=settings.hnsw_threshold,
        ef_search=settings.hnsw_ef_search,
        shared=settings.shared_read,
    )


def default_corpus(data_dir: Path, settings: Settings | None = None, seeds: Path = SEEDS) -> Path | None:
    """Without --corpus or QA_CORPUS: seeds/ for a new data directory or one built from
    seeds/; a directory built from another folder (``qa index DIR``) is served as it is.
    The same for a Qdrant store (``QA_BACKEND=qdrant``). Where there is no seeds/ folder
    (outside the repository), none: the index starts empty and documents come from
    ``qa add``, ``qa index`` or the API."""
    import sqlite3

    if not seeds.is_dir():
        return None

    if settings is not None and settings.backend == "qdrant":
        from index.qdrant.backend import synced_from  # an optional extra

        try:
            synced = synced_from(
                seeds,
                url=settings.qdrant_url,
                api_key=settings.qdrant_api_key,
                path=settings.qdrant_path,
                prefix=settings.qdrant_collection,
            )
        except BackendUnavailable as exc:
            raise QAError(str(exc)) from None
        return seeds if synced is not False else None

    store = data_dir / "store.sqlite3"
    if not store.exists():
        return seeds
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
            sources = {row[0] for row in db.execute("SELECT DISTINCT source FROM documents")}
    except sqlite3.Error:
        return seeds  # the engine reports what is wrong with the store when it opens it
    from_seeds = {f"corpus:{seeds.resolve()}", "corpus"}
    return seeds if not sources or sources & from_seeds else None


def check_data_dir_free(data_dir: Path) -> None:
    """In under a second, before any model loads: DataDirError when another process (a
    server, an index run) holds ``data_dir``."""
    try:
        check_free(data_dir)
    except DataDirInUse as exc:
        raise DataDirInUseError(str(exc)) from None


class DataDirInUseError(DataDirError):
    """Another process holds the data directory (it may be read beside it, read-only)."""


@contextmanager
def ray_embedding(model: str, dim: int, address: str, **options: Any) -> Iterator[Any]:
    """Ray actors that embed passages for ``Engine.sync(embed=...)`` (``index.ray_ingest``);
    a cluster that cannot be reached or has no room is a QAError in one line."""
    from index.ray_ingest import RayEmbed, RayUnavailable

    try:
        with RayEmbed(model, dim, address, **options) as embed:
            yield embed
    except RayUnavailable as exc:
        raise QAError(str(exc)) from None
