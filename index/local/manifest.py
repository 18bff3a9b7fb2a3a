"""``manifest.json`` of a data directory: which model and index type built the derived
indexes (FAISS, BM25), the store generation they were saved at, one checksum over their
files, and the hash of each corpus folder synced in. Written whole (a temporary file,
fsync, rename); a manifest that is missing, unreadable or of another shape reads as {},
so that everything derived is rebuilt from the store."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from index.hardware import file_sha256

log = logging.getLogger("index.local.corpus_index")


class Manifest:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / "manifest.json"

    def read(self) -> dict[str, Any]:
        try:
            manifest = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (ValueError, OSError) as exc:
            log.warning("manifest unreadable (%s): rebuilding the derived indexes", exc)
            return {}
        if not isinstance(manifest, dict) or not isinstance(manifest.get("derived_sha256", ""), str):
            log.warning("manifest is not an object of the expected shape: rebuilding the derived indexes")
            return {}
        return manifest

    def derived_files(self) -> list[Path]:
        bm25 = self.data_dir / "bm25"
        files = [self.data_dir / "vectors.faiss", self.data_dir / "vectors.faiss.deleted.npy"]
        return files + (sorted(bm25.iterdir()) if bm25.is_dir() else [])

    def derived_sha256(self) -> str:
        """One checksum over the FAISS and BM25 files, recorded when they are saved and
        checked when they are loaded: a damaged file is rebuilt from the store, not used."""
        digest = hashlib.sha256()
        for path in self.derived_files():
            if path.is_file():
                digest.update(f"{path.name}\0{file_sha256(path)}\n".encode())
        return digest.hexdigest()

    def matches_files(self, manifest: dict[str, Any]) -> bool:
        """Whether the derived files on disk are the ones ``manifest`` recorded."""
        if manifest.get("derived_sha256") == self.derived_sha256():
            return True
        log.warning("FAISS or BM25 files do not match their recorded checksum: rebuilding from the store")
        return False

    def write(self, manifest: dict[str, Any]) -> None:
        """Record ``manifest`` with the checksum of the derived files as they are now."""
        manifest = {**manifest, "derived_sha256": self.derived_sha256()}
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(manifest, indent=2) + "\n")
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            tmp.replace(self.path)
        finally:
            tmp.unlink(missing_ok=True)  # only there when the write failed
