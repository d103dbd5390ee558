"""One reader per data format. Each module has ``read(path, names, features=, labels=, lazy=, want_labels=)``
returning :class:`~l2h.data.formats.common.Parts`, and ``read_array(path, names, key, what, setting)`` for a
second file holding labels or ground truth. :func:`guess_format` names the format of a path."""

from __future__ import annotations

import importlib
from pathlib import Path

from l2h.data.formats.common import DATA, EAGER_BYTES, Names, Parts, existing, read_head
from l2h.errors import L2HError

FORMATS = ("digits", "mat", "npz", "npy", "idx", "hdf5", "fvecs", "bvecs", "ivecs")
FILE_FORMATS = FORMATS[1:]
_MODULES = {"digits": "digits", "mat": "mat", "npz": "npz", "npy": "npy", "idx": "idx", "hdf5": "hdf5",
            "fvecs": "vecs", "bvecs": "vecs", "ivecs": "vecs", "text": "text"}
_EXTENSIONS = {".mat": "mat", ".npz": "npz", ".npy": "npy", ".hdf5": "hdf5", ".h5": "hdf5", ".hdf": "hdf5",
               ".he5": "hdf5", ".fvecs": "fvecs", ".bvecs": "bvecs", ".ivecs": "ivecs", ".idx": "idx"}
_ALIASES = {"h5": "hdf5", "hdf": "hdf5", "ann": "hdf5", "matlab": "mat", "mnist": "idx"}

__all__ = ["DATA", "EAGER_BYTES", "FILE_FORMATS", "FORMATS", "Names", "Parts", "format_name", "guess_format",
           "read", "read_array"]


def format_name(fmt, setting: str = "data.format") -> str:
    """A format name as l2h spells it (``"NPY"``, ``".npy"`` -> ``"npy"``), refusing unknown ones."""
    if not isinstance(fmt, str):
        raise L2HError(f"{setting} must be a format name, got {fmt!r}: choose one of {', '.join(FORMATS)}")
    name = fmt.strip().lower().lstrip(".")
    name = _ALIASES.get(name, name)
    if name not in FORMATS:
        raise L2HError(f"unknown data format {fmt!r}: set {setting} to one of {', '.join(FORMATS)}")
    return name


def guess_format(path: Path, names: Names = DATA, labels: bool = False) -> str:
    """The format of ``path`` from its name (a folder is IDX; ``x.npy`` is npy; ``train-images-idx3-ubyte.gz``
    is IDX), else from its first bytes. ``labels``: text files (one label per line) are allowed too."""
    if path.is_dir():
        return "idx"
    suffixes = [s.lower() for s in path.suffixes]
    last = suffixes[-1] if suffixes else ""
    if last == ".gz":
        last = suffixes[-2] if len(suffixes) > 1 else ""
    lowered = path.name.lower()
    if labels and last in (".txt", ".csv", ".tsv", ".labels"):
        return "text"
    if last in _EXTENSIONS:
        return _EXTENSIONS[last]
    if "-ubyte" in lowered or ".idx" in lowered or any(f"idx{k}" in lowered for k in range(1, 5)):
        return "idx"
    head = read_head(path, 128, names.path)
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"PK\x03\x04"):
        return "npz"
    if head.startswith(b"MATLAB"):
        return "mat"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "hdf5"
    if head[:2] == b"\x1f\x8b" or (len(head) >= 4 and head[:2] == b"\0\0" and head[2] in (8, 9, 11, 12, 13, 14)):
        return "idx"
    raise L2HError(f"cannot tell the format of {path} from its name or contents: set {names.format} to one of "
                   f"{', '.join(FILE_FORMATS)}")


def _module(fmt: str):
    return importlib.import_module(f"l2h.data.formats.{_MODULES[fmt]}")


def read(fmt: str, path: Path | None, names: Names = DATA, *, features=None, labels=None, lazy=None,
         want_labels: bool = True) -> Parts:
    """Read a dataset's file; ``want_labels=False`` reads only the features (no labels, queries, ground truth)."""
    options = {"features": features, "labels": labels, "lazy": lazy, "want_labels": want_labels}
    if fmt == "digits":
        return _module(fmt).read(path, names, **options)
    path = existing(path, names.path, folder=False) if fmt != "idx" else existing(path, names.path, folder=None)
    if fmt in ("fvecs", "bvecs", "ivecs"):
        options["fmt"] = fmt
    return _module(fmt).read(path, names, **options)


def read_array(path, setting: str, key=None, what: str = "labels", fmt: str | None = None,
               names: Names = DATA):
    """A second file holding labels or ground truth, read whole, in the format its name (or ``fmt``) says."""
    path = existing(path, setting)
    fmt = fmt or guess_format(path, Names(setting, names.format, names.features, names.labels), labels=True)
    if fmt == "digits":
        raise L2HError(f"{setting} names a file; the built-in digits are no labels file")
    module = _module(fmt)
    if fmt in ("fvecs", "bvecs", "ivecs"):
        return module.read_array(path, names, key, what, setting, fmt=fmt)
    return module.read_array(path, names, key, what, setting)
