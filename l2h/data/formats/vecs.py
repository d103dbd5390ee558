"""TEXMEX vectors (SIFT1M, GIST1M, SIFT1B): each row is an int32 dimension ``d`` then ``d`` values, float32 in
``.fvecs``, uint8 in ``.bvecs``, int32 in ``.ivecs`` (ground truth), all little-endian.

The file is memory-mapped and the features are a strided view that skips the row headers, so nothing is read
at load but the headers checked. Checks at load: the file size is a whole number of rows of the first row's
size, and the headers agree: all of them when the file is at most ``FULL_CHECK_BYTES`` (one strided pass over
the map), otherwise the first, the last and ``SAMPLE`` evenly spaced rows; the headers of the rows not checked
then are checked as :meth:`l2h.data.dataset.Dataset.rows` and ``chunks`` read them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from l2h.data.formats.common import DATA, Names, Parts, eager
from l2h.errors import L2HError

DTYPES = {"fvecs": np.dtype("<f4"), "bvecs": np.dtype("u1"), "ivecs": np.dtype("<i4")}
FULL_CHECK_BYTES = 1 << 30  # 1 GiB
SAMPLE = 4096
_HEADER_BLOCK = 1 << 20  # headers compared per step


def open_vecs(path: Path, fmt: str, setting: str = "data.path"):
    """``(features view (n, d), headers view (n,), d, every header checked)``."""
    dtype = DTYPES[fmt]
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise L2HError(f"{path} cannot be read ({exc.strerror or exc}): check {setting}") from None
    if size == 0:
        raise L2HError(f"{path} is empty (0 bytes): check {setting}")
    if size < 4:
        raise L2HError(f"{path} is {size} bytes, shorter than one .{fmt} row header: the file is truncated")
    d = int.from_bytes(head, "little", signed=True)
    row = 4 + d * dtype.itemsize
    if d <= 0 or row > size:
        raise L2HError(f"{path} does not start with a .{fmt} row header (it reads as dimension {d}, for a file of "
                       f"{size} bytes): not a .{fmt} file, or the wrong format")
    if size % row:
        raise L2HError(f"{path} is {size} bytes, not a whole number of {row}-byte rows (dimension {d} from the first "
                       f"row's header, {dtype.itemsize}-byte values): the file is truncated, or not .{fmt}")
    n = size // row
    try:
        raw = np.memmap(path, dtype=np.uint8, mode="r", shape=(n, row))
    except (OSError, ValueError) as exc:
        raise L2HError(f"{path} cannot be memory-mapped ({exc}): check {setting}") from None
    headers = raw[:, :4].view("<i4")[:, 0]
    features = raw[:, 4:].view(dtype)
    everything = size <= FULL_CHECK_BYTES
    if everything:
        for lo in range(0, n, _HEADER_BLOCK):
            _check_headers(path, fmt, headers, d, slice(lo, min(n, lo + _HEADER_BLOCK)))
    else:
        sample = np.unique(np.concatenate([np.arange(min(n, 1024)), np.arange(max(0, n - 1024), n),
                                           np.linspace(0, n - 1, SAMPLE).astype(np.int64)]))
        _check_headers(path, fmt, headers, d, sample)
    return features, headers, d, everything


def _check_headers(path: Path, fmt: str, headers, d: int, rows) -> None:
    got = np.asarray(headers[rows])
    bad = got != d
    if bad.any():
        i = int(np.argmax(bad))
        row = rows.start + i if isinstance(rows, slice) else int(np.asarray(rows)[i])
        raise L2HError(f"{path}: row {row} declares dimension {got[i]} but the first row declares {d}: every row of "
                       f"a .{fmt} file has the same dimension (the file is damaged, or not .{fmt})")


def read(path: Path, names: Names = DATA, *, fmt: str = "fvecs", features=None, labels=None, lazy=None,
         want_labels=True) -> Parts:
    if features is not None:
        raise L2HError(f"{names.features}={features} names an array inside a file, but a .{fmt} file holds one "
                       f"matrix: drop {names.features}")
    if labels is not None and want_labels:
        raise L2HError(f"{names.labels}={labels} names an array inside a file, but a .{fmt} file holds only vectors: "
                       "give the labels file as data.labels_path")
    x, headers, d, everything = open_vecs(path, fmt, names.path)
    if eager(x.shape[0] * x.shape[1] * x.dtype.itemsize, lazy):
        if not everything:
            for lo in range(0, len(headers), _HEADER_BLOCK):
                _check_headers(path, fmt, headers, d, slice(lo, min(len(headers), lo + _HEADER_BLOCK)))
        return Parts(np.array(x))
    check = None if everything else (lambda rows: _check_headers(path, fmt, headers, d, rows))
    return Parts(x, row_check=check)


def read_array(path: Path, names: Names = DATA, key=None, what: str = "labels", setting: str = "data.labels_path",
               fmt: str = "ivecs") -> np.ndarray:
    """A whole small TEXMEX file (ground truth ``.ivecs``, queries), every header checked."""
    if key is not None:
        raise L2HError(f"{path} is a .{fmt} file holding one matrix: drop the array name {key!r}")
    x, headers, d, everything = open_vecs(path, fmt, setting)
    if not everything:
        _check_headers(path, fmt, headers, d, slice(0, len(headers)))
    return np.array(x)
