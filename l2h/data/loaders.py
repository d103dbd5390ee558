"""Readers for the formats hashing data comes in; each returns a validated :class:`Dataset`."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from l2h.data.dataset import Dataset
from l2h.errors import L2HError


def load_dataset(kind: str, path: str | None = None, name: str | None = None, **options) -> Dataset:
    """Load a dataset by format: ``digits`` (embedded), ``mat``, ``npz``, ``npy`` or ``idx``."""
    readers = {"digits": load_digits, "mat": load_mat, "npz": load_npz, "npy": load_npy, "idx": load_idx}
    if kind not in readers:
        raise L2HError(f"unknown data format {kind!r}: choose one of {', '.join(readers)}")
    if kind == "digits":
        return load_digits(name=name or "digits")
    return readers[kind](_existing(path), name=name, **options)


def load_digits(name: str = "digits") -> Dataset:
    """scikit-learn's 8x8 handwritten digits (1797 items, 64 dimensions, 10 classes), shipped inside scikit-learn."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    return Dataset.create(name, bunch.data, bunch.target)


def load_mat(path: Path, name: str | None = None, features: str = "X", labels: str | None = "X_class") -> Dataset:
    """A MATLAB file, v5 (scipy) or v7.3 (HDF5), with features and labels under the given variable names."""
    found = _read_mat(path, [v for v in (features, labels) if v])
    if features not in found:
        raise L2HError(f"{path} has no variable {features!r}: set data.features to the name of the feature matrix")
    if labels and labels not in found:
        raise L2HError(f"{path} has no variable {labels!r}: set data.labels to the label variable, or null")
    x = np.asarray(found[features])
    y = found.get(labels) if labels else None
    if y is not None and x.ndim == 2 and x.shape[0] != np.asarray(y).size and x.shape[1] == np.asarray(y).size:
        x = x.T  # HDF5 keeps MATLAB's column-major layout, so v7.3 matrices read transposed
    return Dataset.create(name or path.stem, x, y)


def _read_mat(path: Path, names: list[str]) -> dict:
    import h5py
    import scipy.io

    if h5py.is_hdf5(path):  # MATLAB v7.3 files are HDF5
        with h5py.File(path, "r") as f:
            return {k: np.asarray(f[k]) for k in names if k in f}
    try:
        return scipy.io.loadmat(path, variable_names=names)
    except (ValueError, OSError, IndexError, NotImplementedError) as exc:  # scipy's answers to a non-MAT file
        raise L2HError(f"{path} is not a readable MATLAB file ({exc}): check data.path and data.format") from None


def load_npz(path: Path, name: str | None = None, features: str = "X", labels: str | None = "y") -> Dataset:
    """A NumPy ``.npz`` archive holding a feature matrix and, optionally, labels."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise L2HError(f"{path} is not a readable .npz file ({exc})") from None
    with archive:
        if features not in archive:
            raise L2HError(f"{path} has no array {features!r} (it has {', '.join(archive.files)}): set data.features")
        if labels and labels not in archive:
            raise L2HError(f"{path} has no array {labels!r} (it has {', '.join(archive.files)}): set data.labels")
        return Dataset.create(name or path.stem, archive[features], archive[labels] if labels else None)


def load_npy(path: Path, name: str | None = None, labels_path: str | None = None) -> Dataset:
    """A ``.npy`` feature matrix, with labels from a second ``.npy`` file if given."""
    try:
        x = np.load(path, allow_pickle=False)
        y = np.load(_existing(labels_path), allow_pickle=False) if labels_path else None
    except ValueError as exc:
        raise L2HError(f"{path} is not a readable .npy file ({exc})") from None
    return Dataset.create(name or path.stem, x, y)


_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: Path) -> np.ndarray:
    """One IDX file (the MNIST format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise L2HError(f"{path} is not an IDX file (bad magic number): pass MNIST-style files")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    body = raw[4 + 4 * ndim :]
    if len(body) != int(np.prod(shape)) * dtype.itemsize:
        raise L2HError(f"{path} is truncated: its header promises shape {shape}")
    return np.frombuffer(body, dtype=dtype).reshape(shape)


def load_idx(path: Path, name: str | None = None, scale: float = 1 / 255) -> Dataset:
    """A folder of MNIST-style IDX files (train and t10k images and labels), gzipped or not; all items together,
    training set first. Fashion-MNIST and other datasets in this layout read the same way."""
    if not path.is_dir():
        raise L2HError(f"{path} is not a folder: data.path must name the folder holding the four IDX files")
    xs, ys = [], []
    for images, labels in _MNIST_FILES.values():
        xs.append(read_idx(_idx_file(path, images)))
        ys.append(read_idx(_idx_file(path, labels)))
    x = np.concatenate(xs).reshape(sum(len(a) for a in xs), -1).astype(np.float32) * scale
    return Dataset.create(name or path.name, x, np.concatenate(ys))


def _idx_file(folder: Path, stem: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.exists():
            return candidate
    raise L2HError(f"{folder} has no {stem} or {stem}.gz: it must hold the four MNIST-style IDX files")


def _existing(path: str | Path | None) -> Path:
    if not path:
        raise L2HError("this data format needs a file: set data.path=/path/to/file")
    p = Path(path).expanduser()
    if not p.exists():
        raise L2HError(f"{p} does not exist: check data.path")
    return p
