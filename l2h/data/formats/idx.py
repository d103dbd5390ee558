"""IDX, the MNIST format: a folder holding the four files (train and t10k images and labels), gzipped or not,
or one IDX file. A folder's items are the training set first, then t10k. uint8 pixels are scaled by 1/255 to
float32 in [0, 1]; other IDX types are read as stored. Images are items of shape ``(1, h, w)``. Fashion-MNIST,
KMNIST and other datasets in this layout read the same way."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from l2h.data.formats.common import DATA, Names, Parts, read_head, reason
from l2h.errors import L2HError

TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
         0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
PARTS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "t10k": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
SCALE = 1 / 255


def _bytes(path: Path, setting: str) -> bytes:
    head = read_head(path, 2, setting)
    try:
        if head == b"\x1f\x8b":  # gzip, whatever the name says
            with gzip.open(path, "rb") as f:
                return f.read()
        with open(path, "rb") as f:
            return f.read()
    except Exception as exc:  # EOFError (truncated gzip), BadGzipFile, zlib.error, OSError
        raise L2HError(f"{path} is a damaged or truncated gzip file ({reason(exc)}): check {setting}") from None


def read_idx(path, setting: str = "data.path") -> np.ndarray:
    """One IDX file, gzipped or not, as an array of its declared shape and type (native byte order)."""
    path = Path(path)
    raw = _bytes(path, setting)
    if len(raw) == 0:
        raise L2HError(f"{path} is empty (0 bytes): check {setting}")
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in TYPES:
        raise L2HError(f"{path} is not an IDX file (its first bytes {raw[:4].hex(' ')} are no IDX magic number): "
                       f"pass MNIST-style files, check {setting}")
    ndim = raw[3]
    if ndim == 0:
        raise L2HError(f"{path} declares 0 dimensions: not a usable IDX file")
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise L2HError(f"{path} is {len(raw)} bytes, shorter than its {ndim}-dimension header: the file is truncated")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = TYPES[raw[2]]
    count = 1
    for s in shape:
        count *= s  # Python integers: a header's sizes cannot overflow
    if count == 0:
        raise L2HError(f"{path} holds no items (its header declares shape {shape})")
    expected, body = count * dtype.itemsize, len(raw) - start
    if body < expected:
        raise L2HError(f"{path} holds {body} bytes of data but its header declares shape {shape} of {dtype.name} "
                       f"({expected} bytes): the file is truncated or its header is damaged")
    if body > expected:
        raise L2HError(f"{path} holds {body - expected} bytes more than its header's shape {shape} of {dtype.name} "
                       "allows: the file is damaged, or not IDX")
    return np.frombuffer(raw, dtype=dtype, count=count, offset=start).reshape(shape).astype(dtype.newbyteorder("="),
                                                                                          copy=False)


def _scaled(x: np.ndarray) -> np.ndarray:
    if x.dtype != np.uint8:
        return x
    out = x.astype(np.float32)
    out *= np.float32(SCALE)  # in place: one float32 copy of the images, not two
    return out


def _find(folder: Path, stem: str) -> Path:
    dotted = stem.replace("-idx", ".idx")  # some mirrors name them train-images.idx3-ubyte
    for name in (stem, f"{stem}.gz", dotted, f"{dotted}.gz"):
        if (folder / name).is_file():
            return folder / name
    raise L2HError(f"{folder} has no {stem} or {stem}.gz: the folder must hold the four MNIST-style IDX files "
                   "(train and t10k images and labels)")


def read_folder(folder: Path, setting: str = "data.path", want_labels: bool = True):
    """``(images (n, h, w), labels (n,) or None)``: train then t10k."""
    images, labels, shapes = [], [], {}
    for part, (image_stem, label_stem) in PARTS.items():
        image_file = _find(folder, image_stem)
        x = read_idx(image_file, setting)
        if x.ndim < 2:
            raise L2HError(f"{image_file} holds a vector of shape {x.shape}, not images: check the folder's files")
        shapes[part] = x.shape[1:]
        images.append(x)
        if want_labels:
            label_file = _find(folder, label_stem)
            y = read_idx(label_file, setting)
            if y.ndim != 1:
                raise L2HError(f"{label_file} has shape {y.shape}, not one label per image: check the folder's files")
            if len(y) != len(x):
                raise L2HError(f"{image_file.name} holds {len(x)} images but {label_file.name} {len(y)} labels: the "
                               "image and label files must belong together")
            labels.append(y)
    if shapes["train"] != shapes["t10k"]:
        raise L2HError(f"{folder}: the train images are {' x '.join(map(str, shapes['train']))} but the t10k images "
                       f"{' x '.join(map(str, shapes['t10k']))}: the folder mixes two datasets")
    if len({x.dtype for x in images}) > 1:
        raise L2HError(f"{folder}: the train and t10k images have different types "
                       f"({images[0].dtype}, {images[1].dtype}): the folder mixes two datasets")
    return np.concatenate(images), (np.concatenate(labels) if want_labels else None)


def read(path: Path, names: Names = DATA, *, features=None, labels=None, lazy=None, want_labels=True) -> Parts:
    for setting, value in ((names.features, features), (names.labels, labels)):
        if value is not None:
            raise L2HError(f"{setting}={value} names an array inside a file, but IDX files hold one array each: "
                           f"drop {setting}")
    if path.is_dir():
        x, y = read_folder(path, names.path, want_labels)
    else:
        x, y = read_idx(path, names.path), None
    return Parts(_scaled(x), y)


def read_array(path: Path, names: Names = DATA, key=None, what: str = "labels",
               setting: str = "data.labels_path") -> np.ndarray:
    if key is not None:
        raise L2HError(f"{path} is an IDX file holding one array: drop the array name {key!r}")
    return read_idx(path, setting)
