"""Documents from a folder of news files (text, HTML, feeds, JSON Lines); a text or HTML
file's stem is its doc_id."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from index.text.formats import MULTI, Incoming, binary_kind, format_of, not_a_format, read_document
from index.text.paragraphs import split_paragraphs
from index.text.raw import DOC_ID, CorpusError, decode_text, text_sha256, valid_doc_id

log = logging.getLogger(__name__)
__all__ = ["DOC_ID", "CorpusError", "decode_text", "text_sha256", "valid_doc_id"]
# A file's documents, as ``index.text.formats`` reads them.
SourceFile = Incoming


@dataclass(frozen=True)
class Bounds:
    """What one document may be, whichever way it comes in (the API's limits)."""

    max_bytes: int  # of its text, UTF-8
    max_passages: int
    max_metadata_bytes: int  # its metadata as JSON

    def check(self, doc: Incoming) -> None:
        """A ``CorpusError`` naming the first bound ``doc`` is over."""
        size = len(doc.text.encode("utf-8", "surrogatepass"))
        if size > self.max_bytes:
            raise CorpusError(f"{doc.doc_id} is {size:,} bytes; the limit is {self.max_bytes:,}")
        meta = len(json.dumps(doc.metadata, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass"))
        if meta > self.max_metadata_bytes:
            raise CorpusError(
                f"{doc.doc_id}: its metadata is {meta:,} bytes as JSON; "
                f"the limit is {self.max_metadata_bytes:,}"
            )
        passages = len(split_paragraphs(doc.text, title=doc.article.title))
        if passages > self.max_passages:
            raise CorpusError(
                f"{doc.doc_id} splits into {passages:,} passages; the limit is {self.max_passages:,}"
            )


@dataclass
class CorpusScan:
    """What a read of a corpus folder found, and what it could not check."""

    files: list[SourceFile]
    # doc_ids whose file is there but could not be taken (unreadable, not UTF-8, ...):
    # their stored documents must be kept, not removed as gone.
    unchecked: set[str]
    # Folders that could not be listed: nothing is known of the documents under them.
    unreadable: list[Path]
    # A feed or JSON Lines file that could not be read: which documents it held is unknown,
    # so no stored document of the folder may be taken as removed.
    unknown: bool = False


def read_corpus(directory: Path, skipped: list[tuple[Path, str]] | None = None) -> list[SourceFile]:
    """The documents of ``scan_corpus``."""
    return scan_corpus(directory, skipped).files


def _binary_file(path: Path) -> str | None:
    """What a file of no document format in a corpus folder is, when it is binary (a .docx,
    a PDF, an image): worth a warning, where a sidecar or a note is not."""
    if path.is_symlink() or not path.is_file():
        return None  # a link, pipe or device: never opened
    try:
        with open(path, "rb") as fh:
            return binary_kind(fh.read(8192))
    except OSError:
        return None


def scan_corpus(
    directory: Path, skipped: list[tuple[Path, str]] | None = None, bounds: Bounds | None = None
) -> CorpusScan:
    """Every document file under ``directory`` (recursively; the formats of
    ``index.text.formats``, a ``name.json`` beside a text or HTML file being its sidecar),
    sorted by doc_id. Only regular files inside the folder count: symbolic links
    (``x.txt -> /etc/passwd``), and anything reached through one, are skipped with a warning.
    Files that cannot be documents (not UTF-8, binary, a bad name, a duplicate id,
    unreadable) or a folder that cannot be listed stop the read with one ``CorpusError``
    naming each of them, or, when a ``skipped`` list is given, are left out, recorded there
    with the reason, and reported as unchecked. With ``bounds``, a document over them is
    such a file."""
    if not directory.is_dir():
        raise CorpusError(f"corpus folder {directory} does not exist")
    root = directory.resolve()
    unreadable: list[Path] = []
    paths: list[Path] = []

    def cannot_list(exc: OSError) -> None:
        unreadable.append(Path(exc.filename or directory))

    for walked, dirs, names in os.walk(directory, onerror=cannot_list):
        here = Path(walked)
        for name in dirs:
            if (here / name).is_symlink():
                log.warning("%s: skipped (a link; not followed)", here / name)
        paths += [here / n for n in names if format_of(n) is not None]
        for n in names:
            what = _binary_file(here / n) if format_of(n) is None and not n.startswith(".") else None
            if what is not None:
                log.warning("skipped %s", not_a_format(str(here / n), what))
    problems: list[tuple[Path, str]] = []
    for folder in unreadable:
        problems.append((folder, "cannot list this folder: the documents under it are kept as they are"))
    files: dict[str, SourceFile] = {}
    unchecked: set[str] = set()
    unknown = False
    for path in sorted(paths):
        if not _regular_file_inside(path, directory, root):
            log.warning("%s: skipped (not a regular file inside %s)", path, directory)
            continue
        try:
            refused: list[tuple[str, str]] | None = [] if skipped is not None else None
            docs = _read_file(path, directory, root, refused)
            for entry, why in refused or []:
                # One bad entry of a feed or JSON Lines file costs that entry only; which
                # stored document it was is unknown, so none of the folder's is taken as gone.
                problems.append((path, f"{entry}: {why}"))
                unknown = True
            if bounds is not None:
                for doc in docs:
                    try:
                        bounds.check(doc)
                    except CorpusError as exc:
                        raise CorpusError(f"{path}: {exc}") from None
            twice = next((d.doc_id for d in docs if d.doc_id in files), None)
            if twice is not None:
                raise CorpusError(f"{path}: doc_id {twice!r} appears twice in the corpus")
            files.update((d.doc_id, d) for d in docs)
        except CorpusError as exc:
            problems.append((path, str(exc).removeprefix(f"{path}: ").removeprefix(f"{path.name}: ")))
            if format_of(path.name) in MULTI:
                unknown = True
            else:
                unchecked.add(path.stem)
    if problems and skipped is None:
        lines = [f"{p}: {why}" for p, why in problems[:10]]
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise CorpusError(
            f"{len(problems)} {'entry' if len(problems) == 1 else 'entries'} of {directory} cannot be "
            "indexed; nothing was changed "
            "(fix them, or leave them out with --skip-invalid: their stored documents are kept):\n  "
            + "\n  ".join(lines)
            + more
        )
    if skipped is not None:
        skipped.extend(problems)
    return CorpusScan(sorted(files.values(), key=lambda f: f.doc_id), unchecked, unreadable, unknown)


def _read_file(
    path: Path, directory: Path, root: Path, refused: list[tuple[str, str]] | None = None
) -> list[SourceFile]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror})") from None
    sidecar_path = path.with_suffix(".json")
    sidecar = None
    if format_of(path.name) not in MULTI and sidecar_path.exists():
        if not _regular_file_inside(sidecar_path, directory, root):
            raise CorpusError(
                f"{path}: its sidecar {sidecar_path.name} is not a regular file inside the folder"
            )
        try:
            sidecar = sidecar_path.read_bytes()
        except OSError as exc:
            raise CorpusError(f"{path}: cannot read its sidecar ({exc.strerror})") from None
    try:
        return read_document(str(path), raw, sidecar=sidecar, doc_id=path.stem, refused=refused)
    except CorpusError as exc:
        raise CorpusError(str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}") from None


def _regular_file_inside(path: Path, directory: Path, root: Path) -> bool:
    parts = path.relative_to(directory).parts
    links = any((directory.joinpath(*parts[: i + 1])).is_symlink() for i in range(len(parts)))
    return not links and stat.S_ISREG(path.lstat().st_mode) and path.resolve().is_relative_to(root)


def corpus_source(directory: Path) -> str:
    """The ``source`` recorded for documents indexed from a corpus folder."""
    return f"corpus:{directory.resolve()}"


def corpus_sha256(files: list[SourceFile]) -> str:
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.doc_id}\0{f.sha256}\n".encode())
    return digest.hexdigest()
