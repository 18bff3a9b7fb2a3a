"""The write path's model: documents become passages with vectors, written through a back end.

A back end stores what it is handed and searches it; it never embeds. ``Indexer`` holds the
embedding model (or the Ray workers' ``Embed``) beside one back end: it splits documents into
paragraphs, embeds them and calls ``Backend.write``, and keeps a store in step with a corpus
folder. The back ends use one too for the re-embedding a model change needs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from index.backend import DERIVED, DETECTED, GIVEN, PAGE, Backend, Document, TextEncoder, stable_id
from index.text.article import FIELDS as ARTICLE_FIELDS
from index.text.corpus import Bounds, SourceFile, corpus_sha256, corpus_source, scan_corpus
from index.text.paragraphs import Paragraph, document_title, split_paragraphs

# Documents indexed by versions that recorded no folder; the next sync of a folder claims them.
LEGACY_CORPUS_SOURCE = "corpus"
# Documents a sync hands to one ``add`` (one embedding pass): bounds memory on large folders.
SYNC_CHUNK = 2000

# Passage vectors for texts: the local model, or Ray workers (``index.ray_ingest``).
Embed = Callable[[list[str], bool], np.ndarray]


class Indexer:
    """Splits, embeds and writes documents into ``backend`` with ``encoder``'s vectors."""

    def __init__(self, backend: Backend, encoder: TextEncoder) -> None:
        self.backend = backend
        self.encoder = encoder

    def add(
        self,
        docs: Sequence[Document],
        progress: bool = False,
        replace: bool = True,
        embed: Embed | None = None,
        split: Sequence[list[Paragraph]] | None = None,
    ) -> None:
        """Split (unless the caller passes ``split``, one list of paragraphs per document),
        embed (with ``embed``, or the encoder) and write documents in one ``Backend.write``.
        Without ``replace``, a stored doc_id raises DocumentExistsError and nothing is written."""
        self.backend.check_writable()
        if not docs:
            return
        if split is None:
            split = [split_paragraphs(d.text, title=d.title) for d in docs]
        texts = [p.text for paragraphs in split for p in paragraphs]
        if embed is None:
            vectors = self.encoder.encode(texts, progress=progress and bool(texts))
        else:
            vectors = embed(texts, progress)
        self.backend.write(docs, split, vectors, replace)

    def sync(
        self,
        directory: Path,
        progress: bool = False,
        skipped: list[tuple[Path, str]] | None = None,
        embed: Embed | None = None,
        chunk: int = SYNC_CHUNK,
        shard: tuple[int, int] | None = None,
        bounds: Bounds | None = None,
    ) -> tuple[int, int]:
        """Make the store hold exactly the folder's files (each document within ``bounds``).
        Only documents that came from this folder are changed or removed: documents added
        through the API or indexed from another folder stay. Returns (documents added or
        changed, documents removed). With a ``skipped`` list, files that cannot be documents
        and folders that cannot be listed are left out and listed there, and the stored
        documents they may hold are kept. Documents are embedded and written ``chunk`` at a
        time. With ``shard=(i, n)``, only the documents of shard ``i`` of ``n`` (by a stable
        hash of the doc_id) are this call's: ``n`` drivers can index one folder side by
        side, each its own shard."""
        store = self.backend
        store.check_writable()
        scan = scan_corpus(directory, skipped, bounds)
        files = scan.files
        source = corpus_source(directory)
        state_key = f"corpus_sha256:{source}"
        if shard is not None:
            files = [f for f in files if in_shard(f.doc_id, shard)]
            state_key += f":shard{shard[0]}of{shard[1]}"
        digest = corpus_sha256(files)
        complete = not scan.unchecked and not scan.unreadable and not scan.unknown
        if complete and store.get_state(state_key) == digest:
            return 0, 0
        known = store.document_sources()
        mine = {d for d, (src, _) in known.items() if src in (source, LEGACY_CORPUS_SOURCE)}
        if shard is not None:
            mine = {d for d in mine if in_shard(d, shard)}
        changed = [f for f in files if known.get(f.doc_id) != (source, f.sha256)]
        # What could not be checked is kept: a file that could not be read is not a file that
        # was removed, and nothing is known of the files in a folder that could not be listed.
        gone = (
            []
            if scan.unreadable or scan.unknown
            else sorted(mine - {f.doc_id for f in files} - scan.unchecked)
        )
        for lo in range(0, len(changed), chunk):
            part = changed[lo : lo + chunk]
            self.add([document_from_file(f, source) for f in part], progress=progress, embed=embed)
        for doc_id in gone:
            store.delete(doc_id)
        if complete:  # a partial read must be redone next time, not remembered as done
            store.set_state(state_key, digest)
        return len(changed), len(gone)

    def sources(self) -> set[str]:
        """Where the stored documents came from: ``api`` or ``corpus:<folder>``."""
        return {src for src, _ in self.backend.document_sources().values()}


def in_shard(doc_id: str, shard: tuple[int, int]) -> bool:
    """Whether a document is in shard ``i`` of ``n`` (the same answer on every machine)."""
    index, count = shard
    return stable_id("shard", doc_id) % count == index


def document_from_file(f: SourceFile, source: str) -> Document:
    """The document to store for what a file (or request) held: its article fields with where
    each came from, and a title derived from the text's first line where none was given or
    detected."""
    a = f.article
    provenance = {
        n: (PAGE if n in a.from_page else DETECTED) if n in a.detected else GIVEN
        for n in ARTICLE_FIELDS
        if getattr(a, n)
    }
    title = a.title or document_title(f.text)
    if not a.title and title:
        provenance["title"] = DERIVED
    return Document(
        f.doc_id, title, f.text, dict(f.metadata), source, f.sha256, a.published, a.source, a.url, provenance
    )
