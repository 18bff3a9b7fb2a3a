"""The data directory as a resource: one writer at a time, and read-only directories.

One writer per data directory: an exclusive OS lock (``flock``) on ``DATA_DIR/lock``, held
for as long as an index is open for writing and released by the operating system if the
process dies, so a crash never leaves a stale lock behind. A directory the process cannot
write is opened read-only (searches and answers work; writes are refused), or refused with
one clear line when it holds no index.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
from pathlib import Path


class DataDirUnavailable(RuntimeError):
    """The data directory cannot be used as asked; the message says why and what to do."""


class DataDirInUse(DataDirUnavailable):
    """Another process has this data directory open for writing."""


class ReadOnlyDataDir(DataDirUnavailable):
    """A write to an index opened from a directory this process cannot write."""


class StorageFull(RuntimeError):
    """The disk holding the data directory is full: the write was not made."""


def disk_full(exc: BaseException) -> bool:
    """Whether an error means the disk (or the user's quota) is full."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    return False


def remove_quietly(path: Path) -> None:
    """Remove a temporary file or folder left by a failed write, if it is there."""
    import shutil

    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class DataDirLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "lock"
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DataDirInUse(
                f"data directory {data_dir} is in use by another process (pid {holder}); stop it, "
                "or add documents through its API (`qa add FILE --url ...`)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def check_free(data_dir: Path) -> None:
    """Raise ``DataDirInUse`` if another process holds ``data_dir`` (checked, not kept)."""
    if not (data_dir / "lock").exists() or not os.access(data_dir, os.W_OK):
        return
    DataDirLock(data_dir).release()
