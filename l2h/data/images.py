"""Image datasets, read lazily: ``data=image_list``, ``data=image_folder`` and ``data=cifar10``.

Nothing is decoded when a dataset loads but its first image (to learn the item shape) and, for lists and folders,
the names of the files (every named file must exist). The features are an :class:`ImageArray`: an array-like
``(n, 3 * h * w)`` of float32 whose rows are the images after the ``transform`` group's evaluation transform,
decoded from their files (Pillow) only when read. Everything downstream (protocols, training, evaluation,
``index.py``, ``search.py``) reads it as it reads any lazy feature matrix, through ``Dataset.rows`` and
``Dataset.chunks`` (evaluation and ``index.py`` a bounded chunk at a time, :func:`l2h.data.dataset.chunk_rows`;
the fingerprint, :meth:`ImageArray.made_from`, decodes nothing); the training DataModule
(:mod:`l2h.training.data`) reads training views of its items (:meth:`ImageArray.item` with ``train=True``) in
worker processes.

- ``image_list``: DeepHash-pytorch's list files, one line per image: its path relative to ``data.root``, then a
  0/1 label vector (multi-hot allowed; rows with exactly one 1 everywhere become class ids). ``data.train``,
  ``data.test`` (the queries) and ``data.database`` name the three lists; ``protocol=given`` follows them.
- ``image_folder``: one sub-folder of ``data.path`` per class (its name is the class), images inside.
- ``cifar10``: CIFAR-10's binary version (``data_batch_1.bin`` ... ``data_batch_5.bin``, ``test_batch.bin``):
  records of one label byte and 3072 pixel bytes (red, green, blue planes of 32 x 32). The pickled Python version
  is never read: unpickling a file runs its code. ``protocol=given``: the test batch is the queries, the five
  training batches the training items and the database.

Every image becomes 8-bit RGB (a grey image is repeated into three channels). Each mistake in a file (a missing
image, one Pillow cannot decode, a label vector of the wrong length, an empty list, a truncated batch) is one
:class:`~l2h.errors.L2HError` line naming the file and line, and the fix."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import torch

from l2h import checks
from l2h.data.dataset import Dataset
from l2h.data.formats.common import existing, reason
from l2h.data.source import DataSource
from l2h.errors import L2HError
from l2h.extraction import file_sha256
from l2h.transforms import ImageTransform

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
CIFAR10_FILES = tuple(f"data_batch_{k}.bin" for k in range(1, 6)) + ("test_batch.bin",)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_CIFAR_RECORD = 1 + 3 * 32 * 32


class ImageArray:
    """Rows of decoded, transformed images: ``shape`` ``(n, 3 * h * w)``, ``dtype`` float32, ``[index]`` (an int,
    a slice, an int array, a boolean mask) decodes those images only. ``decodes`` counts images decoded in this
    process. Subclasses say how to decode item ``i`` (:meth:`raw`) and where it comes from (:meth:`where`); they
    keep file names, not open files, so the array travels to DataLoader worker processes."""

    dtype = np.dtype(np.float32)
    ndim = 2

    def __init__(self, n: int, transform: ImageTransform):
        self.n, self.transform, self.decodes = int(n), transform, 0
        self.item_shape = None
        self.item_shape = tuple(self.item(0).shape)  # the first image fixes the size every other must have
        self.shape = (self.n, int(np.prod(self.item_shape)))

    def raw(self, i: int) -> torch.Tensor:
        """Item ``i`` decoded: uint8 ``(3, h, w)``."""
        raise NotImplementedError

    def where(self, i: int) -> str:
        """Where item ``i`` comes from, for messages: a file and line, or a file and record."""
        raise NotImplementedError

    def made_from(self) -> bytes:
        """What the rows are decoded from, for ``Dataset.fingerprint`` without decoding every image: the evaluation
        transform, and each source (subclasses: :meth:`sources`) with what changes when it is rewritten."""
        return "\0".join([repr(self.transform), *self.sources()]).encode("utf-8", "surrogateescape")

    def sources(self) -> list[str]:
        raise NotImplementedError

    def item(self, i: int, train: bool = False) -> torch.Tensor:
        """Item ``i`` as the network sees it: float32 ``(c, h, w)``, a random training view when ``train``."""
        self.decodes += 1
        image = self.transform(self.raw(i), train)
        if self.item_shape is not None and tuple(image.shape) != self.item_shape:
            raise L2HError(f"{self.where(i)} gives an image of shape {tuple(image.shape)} after transform="
                           f"{self.transform.name}, but the first image gives {self.item_shape}: with images of "
                           "several sizes choose transform=small or transform=imagenet, which resize and crop")
        return image

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, (int, np.integer)):
            return self[np.array([index])][0]
        if isinstance(index, slice):
            rows = range(*index.indices(self.n))
        else:
            rows = np.asarray(index)
            if rows.dtype.kind == "b":
                rows = np.flatnonzero(rows)
            rows = np.where(rows < 0, rows + self.n, rows)
            if rows.size and (rows.min() < 0 or rows.max() >= self.n):
                raise IndexError(f"rows must lie in [-{self.n}, {self.n})")
        out = np.empty((len(rows), self.shape[1]), dtype=np.float32)
        for k, i in enumerate(rows):
            out[k] = self.item(int(i)).reshape(-1).numpy()
        return out

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={self.n}, item_shape={self.item_shape}, transform={self.transform.name})"


class ImageFiles(ImageArray):
    """Image files decoded by Pillow; ``origins[i]``, if given, says where file ``i`` was named (a list's line)."""

    def __init__(self, paths: list[str], transform: ImageTransform, origins: list[str] | None = None):
        self.paths, self.origins = paths, origins
        super().__init__(len(paths), transform)

    def where(self, i):
        return self.paths[i] if self.origins is None else f"{self.origins[i]} ({self.paths[i]})"

    def sources(self):  # a file rewritten changes its modification time (and mostly its size); none is decoded
        stats = [os.stat(path) for path in self.paths]
        return [f"{path} {stat.st_size} {stat.st_mtime_ns}" for path, stat in zip(self.paths, stats)]

    def raw(self, i):
        from PIL import Image

        try:
            with Image.open(self.paths[i]) as image:
                pixels = np.array(image.convert("RGB"))
        except FileNotFoundError:
            raise L2HError(f"{self.where(i)}: the image does not exist: restore the file, or remove its line") from None
        except (OSError, ValueError, SyntaxError) as exc:  # Pillow's UnidentifiedImageError is an OSError
            raise L2HError(f"{self.where(i)}: Pillow cannot decode the image ({reason(exc)}): replace the file, or "
                           "remove it") from None
        return torch.from_numpy(pixels).permute(2, 0, 1).contiguous()


class CifarBatches(ImageArray):
    """The records of CIFAR-10 binary batch files, each read from its file (memory-mapped) when asked for."""

    def __init__(self, files: list[Path], transform: ImageTransform):
        self.files = [str(f) for f in files]
        self.counts = [os.path.getsize(f) // _CIFAR_RECORD for f in self.files]
        self.starts = np.cumsum([0, *self.counts])
        self._maps: dict[int, np.ndarray] = {}
        super().__init__(int(self.starts[-1]), transform)

    def __getstate__(self):  # memory maps are opened anew in each process
        return {**self.__dict__, "_maps": {}}

    def _record(self, i: int) -> tuple[int, int]:
        f = int(np.searchsorted(self.starts, i, side="right")) - 1
        return f, i - int(self.starts[f])

    def where(self, i):
        f, j = self._record(i)
        return f"{self.files[f]} record {j}"

    def sources(self):  # 30 MB a batch: hashing their bytes costs far less than decoding their 60000 images
        return [f"{path} {file_sha256(Path(path))}" for path in self.files]

    def records(self, f: int) -> np.ndarray:
        if f not in self._maps:
            self._maps[f] = np.memmap(self.files[f], dtype=np.uint8, mode="r", shape=(self.counts[f], _CIFAR_RECORD))
        return self._maps[f]

    def raw(self, i):
        f, j = self._record(i)
        return torch.from_numpy(np.array(self.records(f)[j, 1:]).reshape(3, 32, 32))


class ImageSource(DataSource):
    """What the image ``data=`` options share: a ``transform`` (the ``transform`` group), protocol sizes, and
    ``workers``: the DataLoader worker processes that decode training views while the model trains (0: the
    training process decodes them itself)."""

    kind = "images"

    def __init__(self, name: str, transform: ImageTransform, path=None, example: str = "folder",
                 n_query: int | None = None, n_train: int | None = None, workers: int = 2):
        super().__init__(name, path=path, example=example, n_query=n_query, n_train=n_train)
        if not isinstance(transform, ImageTransform):
            raise L2HError(f"data.transform must be an image transform (transform=none, small or imagenet), got "
                           f"{transform!r}")
        self.transform = transform
        self.workers = checks.integer("data.workers", workers, minimum=0)

    def resolved_format(self) -> str:
        return self.kind

    def check(self) -> None:
        existing(self._path(), "data.path", folder=True)

    def dataset(self, features: ImageArray, labels, roles=None) -> Dataset:
        data = Dataset.create(self.name, features, labels, item_shape=features.item_shape)
        return data if roles is None else dataclasses.replace(data, roles=roles)


class ImageFolderSource(ImageSource):
    """``data.path``: a folder holding one sub-folder per class, named by the class, of image files."""

    kind = "image_folder"

    def __init__(self, name: str, transform: ImageTransform, path=None, n_query: int | None = None,
                 n_train: int | None = None, workers: int = 2):
        super().__init__(name, transform, path, "image_folder", n_query, n_train, workers)

    def load(self) -> Dataset:
        self.check()
        root = self._path()
        classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        paths, labels = [], []
        for folder in classes:
            found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
            paths += [str(p) for p in found]
            labels += [folder.name] * len(found)
        if not paths:
            raise L2HError(f"{root} holds no class folders of images ({', '.join(IMAGE_EXTENSIONS)}): data.path must "
                           "be the folder whose sub-folders, one per class, hold the images")
        return self.dataset(ImageFiles(paths, self.transform), np.array(labels))


class ImageListSource(ImageSource):
    """DeepHash-pytorch's list files ``data.train``, ``data.test`` and ``data.database``; the image paths in
    them are relative to ``data.root``. Items are the lines of the three lists in that order (an image named
    in two lists is two items), with the roles ``train``, ``query`` and ``database`` for ``protocol=given``."""

    kind = "image_list"
    LISTS = ("train", "test", "database")

    def __init__(self, name: str, transform: ImageTransform, root=None, train=None, test=None, database=None,
                 n_query: int | None = None, n_train: int | None = None, workers: int = 2):
        super().__init__(name, transform, root, "dataset_folder", n_query, n_train, workers)
        self.root, self.lists = root, {"train": train, "test": test, "database": database}

    def _path(self) -> Path:
        if self.root is None:
            raise L2HError("data=image_list reads images under a folder: add data.root=/path/to/images (the paths in "
                           "the lists are relative to it)")
        return existing(self.root, "data.root", folder=True)

    def check(self) -> None:
        self._path()
        for role in self.LISTS:
            if self.lists[role] is None:
                raise L2HError(f"data=image_list needs its {role} list: add data.{role}=/path/to/{role}.txt")
            existing(self.lists[role], f"data.{role}", folder=False)

    def load(self) -> Dataset:
        self.check()
        root = self._path()
        paths, origins, vectors, roles, width = [], [], [], {}, None
        for role in self.LISTS:
            listed = Path(self.lists[role])
            first = len(paths)
            for number, line in enumerate(listed.read_text(encoding="utf-8").splitlines(), start=1):
                fields = line.split()
                if not fields:
                    continue
                where = f"{listed} line {number}"
                if width is None:
                    width, width_at = len(fields) - 1, where
                if len(fields) - 1 != width or width == 0:
                    raise L2HError(f"{where} has {len(fields) - 1} labels after the image path, but {width_at} has "
                                   f"{width}: every line is a path and the same number (at least one) of 0/1 labels")
                if any(v not in ("0", "1") for v in fields[1:]):
                    raise L2HError(f"{where}: the labels must be 0 or 1, got {' '.join(fields[1:])}: give a 0/1 "
                                   "label vector after the image path")
                path = root / fields[0]
                if not path.is_file():
                    raise L2HError(f"{where}: {path} does not exist: the paths in the list are relative to data.root "
                                   f"({root}); fix data.root, or the line")
                paths.append(str(path))
                origins.append(where)
                vectors.append(fields[1:])
            if len(paths) == first:
                raise L2HError(f"{listed} lists no images: each line must be an image path and its 0/1 labels")
            roles["query" if role == "test" else role] = np.arange(first, len(paths))
        hot = np.array(vectors, dtype=np.uint8)
        labels = hot.argmax(axis=1) if (hot.sum(axis=1) == 1).all() else hot  # one-hot rows are class ids
        return self.dataset(ImageFiles(paths, self.transform, origins), labels, roles)


class Cifar10Source(ImageSource):
    """``data.path``: the folder of CIFAR-10's binary batches (``cifar-10-batches-bin``); 60000 items, the five
    training batches first, then the test batch."""

    kind = "cifar10"

    def __init__(self, name: str, transform: ImageTransform, path=None, n_query: int | None = None,
                 n_train: int | None = None, workers: int = 2):
        super().__init__(name, transform, path, "cifar-10-batches-bin", n_query, n_train, workers)

    def check(self) -> None:
        folder = existing(self._path(), "data.path", folder=True)
        for file_name in CIFAR10_FILES:
            if not (folder / file_name).is_file():
                pickled = " (it holds the pickled Python version, which l2h never reads: unpickling runs code)" \
                    if (folder / file_name.removesuffix(".bin")).is_file() else ""
                raise L2HError(f"{folder} has no {file_name}{pickled}: data.path must be the folder of CIFAR-10's "
                               "binary version (cifar-10-batches-bin)")
            size = (folder / file_name).stat().st_size
            if size == 0 or size % _CIFAR_RECORD:
                raise L2HError(f"{folder / file_name} holds {size} bytes, not a whole number of {_CIFAR_RECORD}-byte "
                               "records: the file is truncated or is not a CIFAR-10 binary batch; download it again")

    def load(self) -> Dataset:
        self.check()
        files = [self._path() / f for f in CIFAR10_FILES]
        images = CifarBatches(files, self.transform)
        labels = np.concatenate([np.array(images.records(f)[:, 0]) for f in range(len(files))]).astype(np.int64)
        bad = np.flatnonzero(labels >= len(CIFAR10_CLASSES))
        if bad.size:
            raise L2HError(f"{images.where(int(bad[0]))} has label {labels[bad[0]]}, not a CIFAR-10 class (0 to 9): "
                           "the file is not CIFAR-10's binary version (CIFAR-100's has two label bytes)")
        n_train = int(images.starts[len(CIFAR10_FILES) - 1])
        training = np.arange(n_train)
        return self.dataset(images, labels, {"train": training, "query": np.arange(n_train, images.n),
                                             "database": training.copy()})
