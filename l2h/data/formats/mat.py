"""MATLAB ``.mat`` files: v5 (and v4) through scipy, v7.3 through h5py.

Rows are items. A v5 matrix is read exactly as stored, with no guessing from shapes. HDF5 always stores a
MATLAB array transposed (MATLAB is column-major), so every v7.3 variable is transposed back, whatever its shape.
Feature matrices must be 2-D with more than one item or a single column: MATLAB has no 1-D arrays and saves a
1-D NumPy array as a 1 x n row, so a row vector is refused rather than read as one item (``.npz`` refuses the
same array). Labels may be a 1 x n or n x 1 vector, a multi-hot matrix, a char matrix or a cell array of text.
Large v7.3 feature matrices are read lazily (column by column of the stored matrix)."""

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

FEATURES, LABELS = "X", "X_class"


def read(path: Path, names: Names = DATA, *, features=None, labels=None, lazy=None, want_labels=True) -> Parts:
    fkey = features or FEATURES
    lkey = (labels or LABELS) if want_labels else None
    if is_v73(path, names.path):
        return _read_v73(path, names, fkey, lkey, labels is not None, lazy)
    found = _load_v5(path, names, [k for k in (fkey, lkey) if k], names.path)
    if fkey not in found:
        raise L2HError(f"{path} has no variable {fkey!r} (it has {_v5_listing(path)}): set {names.features} to the "
                       "name of the feature matrix")
    if labels is not None and labels not in found:
        raise L2HError(f"{path} has no variable {labels!r} (it has {_v5_listing(path)}): set {names.labels} to the "
                       "label variable, or null")
    x = _v5_features(path, fkey, found[fkey])
    y = _v5_labels(path, lkey, found[lkey]) if lkey in found else None
    return Parts(x, y)


def read_array(path: Path, names: Names = DATA, key=None, what: str = "labels",
               setting: str = "data.labels_path") -> np.ndarray:
    """A second file's variable (labels, ground truth): ``key``, else ``X_class`` for labels, else the only one."""
    default = LABELS if what == "labels" else None
    if is_v73(path, setting):
        with _open_v73(path, setting) as f:
            key = key or only_key(path, _v73_names(f), default, what, names.labels)
            if key not in f:
                raise L2HError(f"{path} has no variable {key!r} (it has {', '.join(_v73_names(f))})")
            return _guard(path, lambda: _v73_value(path, f, key))
    if key is None:
        key = only_key(path, [v[0] for v in _v5_variables(path, setting)], default, what, names.labels)
    found = _load_v5(path, names, [key], setting)
    if key not in found:
        raise L2HError(f"{path} has no variable {key!r} (it has {_v5_listing(path)}): name the variable of {what}")
    return _v5_labels(path, key, found[key])


def is_v73(path: Path, setting: str) -> bool:
    head = read_head(path, 128, setting)
    if not head:
        raise L2HError(f"{path} is empty (0 bytes): check {setting}")
    if head.startswith(b"MATLAB 7.3"):
        return True
    import h5py

    try:
        return bool(h5py.is_hdf5(path))
    except Exception:
        return False


# ---- v5 -------------------------------------------------------------------------------------------------------


def _load_v5(path: Path, names: Names, keys: list[str], setting: str) -> dict:
    import scipy.io

    try:
        return scipy.io.loadmat(path, variable_names=keys)
    except Exception as exc:  # scipy's answers to a damaged file vary: ValueError, OSError, zlib.error, TypeError
        raise L2HError(f"{path} is not a readable MATLAB file ({reason(exc)}): check {setting} and "
                       f"{names.format}") from None


def _v5_variables(path: Path, setting: str) -> list:
    import scipy.io

    try:
        return scipy.io.whosmat(path)
    except Exception as exc:
        raise L2HError(f"{path} is not a readable MATLAB file ({reason(exc)}): check {setting}") from None


def _v5_listing(path: Path) -> str:
    try:
        import scipy.io

        found = [f"{v[0]} ({' x '.join(map(str, v[1]))} {v[2]})" for v in scipy.io.whosmat(path)]
    except Exception:
        found = []
    return ", ".join(found[:12]) or "no readable variables"


def _v5_features(path: Path, key: str, value) -> np.ndarray:
    if hasattr(value, "toarray"):  # MATLAB sparse
        value = value.toarray()
    value = np.asarray(value)
    if value.dtype.names:
        raise L2HError(f"{path}: variable {key!r} is a MATLAB struct, not a feature matrix: store a numeric matrix")
    if value.dtype.kind == "O":
        raise L2HError(f"{path}: variable {key!r} is a MATLAB cell array, not a feature matrix: store a numeric "
                       "matrix (cell2mat in MATLAB)")
    if value.dtype.kind == "U":
        raise L2HError(f"{path}: variable {key!r} is a MATLAB char array, not a feature matrix: store a numeric "
                       "matrix")
    _check_matrix(path, key, value.shape)
    return value


def _v5_labels(path: Path, key: str, value) -> np.ndarray:
    if hasattr(value, "toarray"):
        value = value.toarray()
    value = np.asarray(value)
    if value.dtype.names:
        raise L2HError(f"{path}: variable {key!r} is a MATLAB struct, not labels: store a vector, a multi-hot "
                       "matrix or a cell array of text")
    if value.dtype.kind == "O":  # a cell array: one text (or number) per cell
        return _cells(path, key, [_cell(path, key, v) for v in value.reshape(-1, order="F")], value.shape)
    if value.dtype.kind == "U":  # a char matrix: one padded row per item
        return np.char.rstrip(value.reshape(-1), " \x00")
    return value


def _cell(path: Path, key: str, v):
    v = np.asarray(v)
    if v.dtype.kind == "U":
        return "".join(v.reshape(-1).tolist()).rstrip(" \x00") if v.size else ""
    if v.dtype.kind in "biuf" and v.size == 1:
        return v.reshape(-1)[0].item()
    raise L2HError(f"{path}: a cell of {key!r} holds {v.dtype} of shape {v.shape}: each cell must hold one text or "
                   "one number")


def _cells(path: Path, key: str, values: list, shape: tuple) -> np.ndarray:
    if 1 not in shape and len(shape) == 2:
        raise L2HError(f"{path}: the cell array {key!r} is {shape[0]} x {shape[1]}: labels in cells must be a vector")
    if all(isinstance(v, str) for v in values):
        return np.array(values, dtype=str)
    if any(isinstance(v, str) for v in values):
        raise L2HError(f"{path}: the cell array {key!r} mixes text and numbers: give one kind of label")
    return np.array(values, dtype=np.float64)


def _check_matrix(path: Path, key: str, shape: tuple) -> None:
    """Refuse a v5 / transposed-v7.3 variable whose shape (rows = items) is not a feature matrix."""
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2:
        raise L2HError(f"{path}: variable {key!r} has {len(shape)} dimensions {shape}: a .mat feature matrix must be "
                       "items x dimensions (reshape image stacks to one row per image in MATLAB)")
    if shape[0] == 1 and shape[1] > 1:
        raise L2HError(f"{path}: variable {key!r} is a 1 x {shape[1]} row vector, not items x dimensions (a 1-D "
                       "NumPy array saves this way): store an n x d matrix, n x 1 for one value per item")


# ---- v7.3 -----------------------------------------------------------------------------------------------------


def _open_v73(path: Path, setting: str):
    import h5py

    try:
        return h5py.File(path, "r")
    except Exception as exc:
        raise L2HError(f"{path} is not a readable MATLAB v7.3 (HDF5) file ({reason(exc)}): check {setting}") from None


def _v73_names(f) -> list[str]:
    return [k for k in f.keys() if not k.startswith("#")]


def _guard(path: Path, work):
    """Run ``work``; an HDF5 error while reading data (a damaged or truncated file) becomes an L2HError."""
    try:
        return work()
    except L2HError:
        raise
    except Exception as exc:
        raise L2HError(f"{path} is a damaged or truncated MATLAB v7.3 file ({reason(exc)})") from None


def _read_v73(path: Path, names: Names, fkey: str, lkey: str | None, explicit: bool, lazy) -> Parts:
    with _open_v73(path, names.path) as f:
        listing = ", ".join(_v73_names(f)[:12]) or "no variables"
        if fkey not in f:
            raise L2HError(f"{path} has no variable {fkey!r} (it has {listing}): set {names.features} to the name of "
                           "the feature matrix")
        if explicit and lkey not in f:
            raise L2HError(f"{path} has no variable {lkey!r} (it has {listing}): set {names.labels} to the label "
                           "variable, or null")
        ds = _v73_dataset(path, f, fkey)
        cls = _class(ds)
        if cls in ("cell", "char"):
            raise L2HError(f"{path}: variable {fkey!r} is a MATLAB {cls} array, not a feature matrix: store a "
                           "numeric matrix")
        shape = tuple(int(s) for s in ds.shape[::-1])
        _check_matrix(path, fkey, shape)
        nbytes = int(np.prod(shape)) * ds.dtype.itemsize
        if eager(nbytes, lazy):
            x = _guard(path, lambda: np.asarray(ds[()]).T)
        else:
            x = _guard(path, lambda: H5Array(path, fkey, transposed=True))
        y = _guard(path, lambda: _v73_value(path, f, lkey)) if lkey and lkey in f else None
        return Parts(x, y)


def _v73_dataset(path: Path, f, key: str):
    import h5py

    obj = f[key]
    if isinstance(obj, h5py.Group):
        kind = "sparse matrix" if "MATLAB_sparse" in obj.attrs else "struct"
        fix = "full(X) in MATLAB" if kind == "sparse matrix" else "a numeric array"
        raise L2HError(f"{path}: variable {key!r} is a MATLAB v7.3 {kind}, which l2h does not read: save {fix}")
    if obj.attrs.get("MATLAB_empty", 0):
        raise L2HError(f"{path}: variable {key!r} is empty in MATLAB: save the data itself")
    if obj.dtype.names and set(obj.dtype.names) >= {"real", "imag"}:
        raise L2HError(f"{path}: variable {key!r} is complex: l2h hashes real vectors; store the real part, the "
                       "magnitude, or real and imaginary parts as separate dimensions")
    return obj


def _class(ds) -> str:
    cls = ds.attrs.get("MATLAB_class", b"")
    return cls.decode("ascii", "replace") if isinstance(cls, bytes) else str(cls)


def _v73_value(path: Path, f, key: str) -> np.ndarray:
    """A v7.3 variable transposed back to MATLAB's shape; char and cell arrays become text."""
    ds = _v73_dataset(path, f, key)
    cls = _class(ds)
    raw = np.asarray(ds[()])
    if cls == "cell":
        values = [_v73_cell(path, f, key, ref) for ref in raw.T.reshape(-1, order="F")]
        return _cells(path, key, values, raw.T.shape)
    if cls == "char":
        return _chars(raw.T)
    value = np.transpose(raw)
    return value.astype(bool) if cls == "logical" else value


def _v73_cell(path: Path, f, key: str, ref):
    target = f[ref]
    if _class(target) == "char":
        text = _chars(np.asarray(target[()]).T)
        return "".join(text.tolist())
    v = np.asarray(target[()])
    if v.dtype.kind in "biuf" and v.size == 1 and not target.attrs.get("MATLAB_empty", 0):
        return v.reshape(-1)[0].item()
    if target.attrs.get("MATLAB_empty", 0):
        return ""
    raise L2HError(f"{path}: a cell of {key!r} holds {v.dtype} of shape {v.shape}: each cell must hold one text or "
                   "one number")


def _chars(codes: np.ndarray) -> np.ndarray:
    """A MATLAB char matrix (rows x characters, UTF-16 code units) as one string per row."""
    codes = np.atleast_2d(codes)
    return np.array(["".join(map(chr, row)).rstrip(" \x00") for row in codes.astype(np.uint32).tolist()],
                    dtype=str)
