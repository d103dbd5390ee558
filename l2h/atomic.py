"""Atomic file writes: the one way l2h puts a file on disk.

A file is written to a uniquely named temporary file beside its target, flushed to disk and renamed over the
target only when complete, so a reader (or a crash, a kill, a full disk) sees the old file or the new one,
never half of either; two processes writing one path leave one of their files whole. The result follows the
umask like any other new file. Failures become one :class:`L2HError` naming the path and the fix.

Locks (``flock``, released by the kernel when their holder dies, even by SIGKILL) let writers of a whole made
of several files take turns (:func:`locked`) and tell a folder still being written from one a killed writer left
(:func:`hold_folder`, :func:`remove_unless_held`)."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from l2h.errors import L2HError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def explain(path: Path, exc: OSError) -> L2HError:
    """A one-line error for a failed write, with the fix for the usual causes."""
    reason = {errno.ENOSPC: "the disk is full: free some space",
              errno.EDQUOT: "the disk quota is exhausted: free some space",
              errno.EACCES: "permission denied: choose a folder you can write to",
              errno.EPERM: "permission denied: choose a folder you can write to",
              errno.EROFS: "the file system is read-only: choose another folder",
              errno.EISDIR: "a folder of that name is in the way: remove it or choose another path",
              errno.ENOTDIR: "part of the path is a file, not a folder: choose another path"}.get(
        exc.errno, f"{exc.strerror or exc}: check the path")
    return L2HError(f"cannot write {path}: {reason}")


def ensure_folder(folder: Path) -> Path:
    """Create ``folder`` (and its parents) or say in one line why it cannot be."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise L2HError(f"cannot write into {folder}: it is a file, not a folder: choose another path") from None
    except OSError as exc:
        raise explain(folder, exc) from None
    if not folder.is_dir():
        raise L2HError(f"cannot write into {folder}: it is a file, not a folder: choose another path")
    return folder


@contextmanager
def atomic_file(path: str | Path, temp_folder: str | Path | None = None) -> Iterator[BinaryIO]:
    """``with atomic_file(path) as f: f.write(...)``: the file appears at ``path`` whole, or not at all.
    ``temp_folder``: where the temporary file is written (on the same file system), if not beside ``path``."""
    path = Path(path)
    if path.is_dir():
        raise L2HError(f"cannot write {path}: a folder of that name is in the way: remove it or choose another path")
    ensure_folder(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(dir=temp_folder or path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise explain(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes files owner-only; a saved file follows the umask
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise explain(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_file(path) as f:
        f.write(data)
    return Path(path)


def write_with(path: str | Path, writer: Callable[[BinaryIO], object]) -> Path:
    """Atomically write what ``writer(file)`` writes (for libraries that write to a file object)."""
    with atomic_file(path) as f:
        writer(f)
    return Path(path)


def json_bytes(payload: dict) -> bytes:
    return (json.dumps(payload, indent=2, allow_nan=True) + "\n").encode()


def write_json(path: str | Path, payload: dict) -> Path:
    return write_bytes(path, json_bytes(payload))


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode())


@contextmanager
def locked(lock_path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (an empty file, created if need be) for the block; waits for
    the holder, if any, to finish."""
    lock_path = Path(lock_path)
    ensure_folder(lock_path.parent)
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise explain(lock_path, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def hold_folder(folder: str | Path) -> int:
    """Lock ``folder`` as being written by this process until :func:`os.close` of the returned descriptor (or
    this process's end): :func:`remove_unless_held` leaves it alone meanwhile."""
    fd = os.open(folder, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def remove_unless_held(folder: str | Path) -> bool:
    """Remove ``folder`` and everything in it unless a live process holds it (:func:`hold_folder`); whether it
    was removed."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    try:
        shutil.rmtree(folder, ignore_errors=True)
    finally:
        os.close(fd)
    return True
