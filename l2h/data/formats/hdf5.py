"""HDF5 files, as ann-benchmarks publishes them: ``train`` (the items), ``test`` (queries), ``neighbors`` (each
query's true nearest ``train`` rows), ``distances``, and the file attribute ``distance`` (the metric). Another
HDF5 layout reads with ``features`` / ``labels`` naming its datasets. Arrays are read as stored (no MATLAB
transposition: a MATLAB v7.3 file is ``format: mat``). Large feature matrices are read lazily."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from l2h.data.formats.common import (
    DATA,
    Names,
    Parts,
    eager,
    only_key,
    read_head,
    reason,
)
from l2h.data.formats.lazy import H5Array
from l2h.errors import L2HError

FEATURES, QUERIES, NEIGHBORS = "train", "test", "neighbors"
SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _open(path: Path, setting: str):
    import h5py

    if not read_head(path, 8, setting):
        raise L2HError(f"{path} is empty (0 bytes): check {setting}")
    try:
        return h5py.File(path, "r")
    except Exception as exc:  # h5py raises OSError for anything not HDF5, damaged or truncated
        raise L2HError(f"{path} is not a readable HDF5 file ({reason(exc)}): check {setting}") from None


def dataset_names(path: Path, setting: str) -> list[str]:
    """The names of the file's top-level datasets and groups, checking it is a readable HDF5 file."""
    with _open(path, setting) as f:
        return list(f.keys())


def _dataset(path: Path, f, key: str, setting: str):
    import h5py

    if key not in f:
        listed = ", ".join(k for k in list(f.keys())[:12]) or "nothing"
        raise L2HError(f"{path} has no dataset {key!r} (it has {listed}): set {setting} to the dataset's name")
    obj = f[key]
    if not isinstance(obj, h5py.Dataset):
        raise L2HError(f"{path}: {key!r} is an HDF5 group, not an array: set {setting} to a dataset inside it "
                       f"(e.g. {key}/{next(iter(obj.keys()), 'name')})")
    return obj


def _read_all(path: Path, ds) -> np.ndarray:
    try:
        return np.asarray(ds[()])
    except Exception as exc:
        raise L2HError(f"{path}: dataset {ds.name!r} cannot be read, the file is damaged or truncated "
                       f"({reason(exc)})") from None


def read(path: Path, names: Names = DATA, *, features=None, labels=None, lazy=None, want_labels=True) -> Parts:
    fkey = features or FEATURES
    with _open(path, names.path) as f:
        ds = _dataset(path, f, fkey, names.features)
        if ds.ndim == 2 and not eager(ds.size * ds.dtype.itemsize, lazy) and ds.dtype.kind in "biuf":
            try:
                x = H5Array(path, fkey)
            except Exception as exc:
                raise L2HError(f"{path}: dataset {fkey!r} cannot be read ({reason(exc)})") from None
        else:
            x = _read_all(path, ds)
        y = _read_all(path, _dataset(path, f, labels, names.labels)) if labels and want_labels else None
        queries = neighbors = None
        if want_labels and fkey != QUERIES and QUERIES in f:
            queries = _read_all(path, _dataset(path, f, QUERIES, names.features))
            if NEIGHBORS in f:
                neighbors = _read_all(path, _dataset(path, f, NEIGHBORS, names.features))
        metric = f.attrs.get("distance")
        if isinstance(metric, bytes):
            metric = metric.decode("utf-8", "replace")
        return Parts(x, y, queries, neighbors, metric=None if metric is None else str(metric))


def read_array(path: Path, names: Names = DATA, key=None, what: str = "labels",
               setting: str = "data.labels_path") -> np.ndarray:
    """A second file's dataset: ``key``, else ``neighbors`` for ground truth, else the file's only dataset."""
    with _open(path, setting) as f:
        default = NEIGHBORS if what == "ground truth" else "labels"
        key = key or only_key(path, list(f.keys()), default, what, names.labels)
        return _read_all(path, _dataset(path, f, key, names.labels))
