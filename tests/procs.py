"""What a test can learn of this machine's processes from /proc: the processes under one,
and the TCP sockets they listen on. Plain functions (no pytest), so that a script a test
runs can use them too."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path


def descendants(root: int) -> set[int]:
    """``root`` and every process below it."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    found, todo = {root}, [root]
    while todo:
        pid = todo.pop()
        for child, parent in parents.items():
            if parent == pid and child not in found:
                found.add(child)
                todo.append(child)
    return found


def listening(pids: set[int]) -> list[list[object]]:
    """[process name, address, port] of each listening TCP socket these processes hold."""
    # /proc/net/tcp{,6}: LISTEN sockets (state 0A) by inode, then the inodes these pids hold.
    sockets = {}
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
            parts = line.split()
            if parts[3] != "0A":
                continue
            address, port = parts[1].split(":")
            raw = bytes.fromhex(address)
            if family == socket.AF_INET:
                ip = socket.inet_ntop(family, raw[::-1])
            else:
                ip = socket.inet_ntop(family, b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))
            sockets[parts[9]] = (ip, int(port, 16))
    out: list[list[object]] = []
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in sockets:
                    out.append([Path(f"/proc/{pid}/comm").read_text().strip(), *sockets[target[8:-1]]])
    return out
