"""NumPy ``.npz`` archives: features under ``X`` and labels under ``y`` unless named otherwise. Members of an
archive cannot be memory-mapped, so the features are read into memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from l2h.data.formats.common import DATA, Names, Parts, only_key, read_head, reason
from l2h.errors import L2HError

FEATURES, LABELS = "X", "y"


def _open(path: Path, names: Names, setting: str):
    head = read_head(path, 6, setting)
    if not head:
        raise L2HError(f"{path} is empty (0 bytes): check {setting}")
    if head == b"\x93NUMPY":
        raise L2HError(f"{path} holds a single .npy array, not an .npz archive: set {names.format}=npy")
    if head[:2] != b"PK":
        raise L2HError(f"{path} is not an .npz archive (it is no zip file): check {setting} and {names.format}")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:  # zipfile's and numpy's answers vary: BadZipFile, EOFError, ValueError, OSError
        raise L2HError(f"{path} is a damaged or truncated .npz archive ({reason(exc)})") from None


def _member(archive, path: Path, key: str) -> np.ndarray:
    try:
        return archive[key]
    except ValueError as exc:
        if "Object arrays" in str(exc) or "pickle" in str(exc):
            raise L2HError(f"{path}: array {key!r} holds Python objects (pickled), which l2h does not load: save a "
                           "numeric (or, for labels, text) array") from None
        raise L2HError(f"{path}: array {key!r} is damaged or truncated ({reason(exc)})") from None
    except Exception as exc:  # BadZipFile (bad CRC), zlib.error, EOFError, OSError
        raise L2HError(f"{path}: array {key!r} is damaged or truncated ({reason(exc)})") from None


def _missing(path: Path, archive, key: str, setting: str) -> L2HError:
    listed = ", ".join(archive.files[:12]) or "no arrays"
    return L2HError(f"{path} has no array {key!r} (it has {listed}): set {setting} to the array's name")


def read(path: Path, names: Names = DATA, *, features=None, labels=None, lazy=None, want_labels=True) -> Parts:
    with _open(path, names, names.path) as archive:
        fkey = features or FEATURES
        if fkey not in archive.files:
            raise _missing(path, archive, fkey, names.features)
        y = None
        if want_labels:
            if labels is not None and labels not in archive.files:
                raise _missing(path, archive, labels, names.labels)
            lkey = labels or LABELS
            y = _member(archive, path, lkey) if lkey in archive.files else None
        return Parts(_member(archive, path, fkey), y)


def read_array(path: Path, names: Names = DATA, key=None, what: str = "labels",
               setting: str = "data.labels_path") -> np.ndarray:
    """A second file's array (labels, ground truth): ``key``, else ``y`` for labels, else the only array."""
    with _open(path, names, setting) as archive:
        if key is not None and key not in archive.files:
            raise _missing(path, archive, key, names.labels)
        default = LABELS if what == "labels" else None
        return _member(archive, path, key or only_key(path, archive.files, default, what, names.labels))
