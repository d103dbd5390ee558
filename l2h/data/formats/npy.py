"""NumPy ``.npy``: one array, memory-mapped (``np.load(mmap_mode="r")``) so a database larger than memory
loads without being read; small files are read into memory and checked whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from l2h.data.formats.common import DATA, Names, Parts, eager, read_head, reason
from l2h.errors import L2HError

MAGIC = b"\x93NUMPY"


def open_npy(path: Path, names: Names = DATA, setting: str | None = None) -> np.ndarray:
    """The file's array, memory-mapped; refuses files that are not ``.npy``, object arrays and truncated files."""
    setting = setting or names.path
    head = read_head(path, 6, setting)
    if not head:
        raise L2HError(f"{path} is empty (0 bytes): check {setting}")
    if head != MAGIC:
        if head[:4] == b"PK\x03\x04":
            raise L2HError(f"{path} is an .npz archive, not a .npy file: set {names.format}=npz")
        raise L2HError(f"{path} is not a .npy file (it does not start with NumPy's magic bytes): check {setting} "
                       f"and {names.format}")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        if "Python objects" in str(exc) or "object" in str(exc).lower():
            raise L2HError(f"{path} holds Python objects (a pickled object array), which l2h does not load: save "
                           "a numeric (or, for labels, text) array") from None
        raise L2HError(f"{path} is a damaged or truncated .npy file ({reason(exc)})") from None
    except Exception as exc:  # numpy's answers to a damaged header vary: EOFError, SyntaxError, OverflowError, ...
        raise L2HError(f"{path} is a damaged or truncated .npy file ({reason(exc)})") from None


def read(path: Path, names: Names = DATA, *, features=None, labels=None, lazy=None, want_labels=True) -> Parts:
    if features is not None:
        raise L2HError(f"{names.features}={features} names an array inside a file, but a .npy file holds one "
                       f"array: drop {names.features}")
    if labels is not None and want_labels:
        raise L2HError(f"{names.labels}={labels} names an array inside a file, but a .npy file holds only the "
                       "features: give the labels file as data.labels_path")
    x = open_npy(path, names)
    if eager(x.nbytes, lazy) or (x.ndim > 2 and not x.flags.c_contiguous):
        x = np.array(x)  # small (or a Fortran-ordered image stack, which only flattens in memory)
    return Parts(x)


def read_array(path: Path, names: Names = DATA, key=None, what: str = "labels",
               setting: str = "data.labels_path") -> np.ndarray:
    """A second file's array (labels, ground truth), read whole."""
    if key is not None:
        raise L2HError(f"{path} is a .npy file holding one array: drop the array name {key!r}")
    return np.array(open_npy(path, names, setting))
