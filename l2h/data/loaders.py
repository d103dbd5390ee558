"""The former loader entry point, kept for existing callers: new code uses ``DataSource(...).load()``
(:mod:`l2h.data.source`); each format's reader lives in :mod:`l2h.data.formats`."""

from __future__ import annotations

from pathlib import Path

from l2h.data.dataset import Dataset
from l2h.data.formats.idx import read_idx
from l2h.data.source import DataSource, read_features

__all__ = ["load_dataset", "load_digits", "read_features", "read_idx"]


def load_dataset(kind: str, path=None, name: str | None = None, **options) -> Dataset:
    """``DataSource(name, kind, path, **options).load()``; the name defaults to the file's stem (or the format).
    Options are DataSource's: ``features``, ``labels``, ``labels_path``, ``queries_path``, ``ground_truth_path``,
    ``lazy``."""
    if name is None:
        name = Path(path).stem if path is not None else str(kind)
    return DataSource(name, kind, path, **options).load()


def load_digits(name: str = "digits") -> Dataset:
    """scikit-learn's 8x8 handwritten digits (1797 items, 64 dimensions, 10 classes)."""
    return DataSource(name, "digits").load()
