"""Documents from a folder of UTF-8 text files; the file stem is the doc_id."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
DOC_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class CorpusError(ValueError):
    """A corpus file or document that cannot be ingested."""


@dataclass(frozen=True)
class SourceFile:
    doc_id: str
    text: str
    sha256: str


def valid_doc_id(doc_id: str) -> bool:
    """Letters, digits, '.', '_' and '-', at most 128, starting with a letter or digit, so
    no doc_id can spell a path."""
    return bool(DOC_ID.fullmatch(doc_id))


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def decode_text(raw: bytes, name: str) -> str:
    """UTF-8 text (a BOM is dropped); binary or other encodings are refused."""
    if b"\x00" in raw:
        raise CorpusError(f"{name}: binary data, not a text document")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return text


@dataclass
class CorpusScan:
    """What a read of a corpus folder found, and what it could not check."""

    files: list[SourceFile]
    # doc_ids whose file is there but could not be taken (unreadable, not UTF-8, ...):
    # their stored documents must be kept, not removed as gone.
    unchecked: set[str]
    # Folders that could not be listed: nothing is known of the documents under them.
    unreadable: list[Path]


def read_corpus(directory: Path, skipped: list[tuple[Path, str]] | None = None) -> list[SourceFile]:
    """The documents of ``scan_corpus``."""
    return scan_corpus(directory, skipped).files


def scan_corpus(directory: Path, skipped: list[tuple[Path, str]] | None = None) -> CorpusScan:
    """Every ``*.txt`` file under ``directory`` (recursively), sorted by doc_id. Only regular
    files inside the folder count: symbolic links (``x.txt -> /etc/passwd``), and anything
    reached through one, are skipped with a warning. A file that cannot be a document (not
    UTF-8, binary, a bad name, a duplicate id, unreadable) or a folder that cannot be listed
    stops the read with ``CorpusError``, or, when a ``skipped`` list is given, is left out,
    recorded there with the reason, and reported as unchecked."""
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
        paths += [here / n for n in names if n.endswith(".txt")]
    for folder in unreadable:
        if skipped is None:
            raise CorpusError(
                f"{folder}: cannot list this folder; nothing was changed "
                "(fix its permissions, or skip it with --skip-invalid: its documents are kept)"
            )
        skipped.append((folder, "cannot list this folder: the documents under it are kept as they are"))
    files: dict[str, SourceFile] = {}
    unchecked: set[str] = set()
    for path in sorted(paths):
        if not _regular_file_inside(path, directory, root):
            log.warning("%s: skipped (not a regular file inside %s)", path, directory)
            continue
        try:
            files[path.stem] = _read_file(path, files)
        except CorpusError as exc:
            if skipped is None:
                raise
            skipped.append((path, str(exc).removeprefix(f"{path}: ")))
            unchecked.add(path.stem)
    return CorpusScan(sorted(files.values(), key=lambda f: f.doc_id), unchecked, unreadable)


def _read_file(path: Path, seen: dict[str, SourceFile]) -> SourceFile:
    doc_id = path.stem
    if not valid_doc_id(doc_id):
        raise CorpusError(f"{path}: file name is not a valid doc_id")
    if doc_id in seen:
        raise CorpusError(f"{path}: doc_id {doc_id!r} appears twice in the corpus")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror})") from None
    text = decode_text(raw, str(path))
    return SourceFile(doc_id, text, text_sha256(text))


def _regular_file_inside(path: Path, directory: Path, root: Path) -> bool:
    parts = path.relative_to(directory).parts
    links = any((directory.joinpath(*parts[: i + 1])).is_symlink() for i in range(len(parts)))
    return not links and stat.S_ISREG(path.lstat().st_mode) and path.resolve().is_relative_to(root)


def corpus_sha256(files: list[SourceFile]) -> str:
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.doc_id}\0{f.sha256}\n".encode())
    return digest.hexdigest()
