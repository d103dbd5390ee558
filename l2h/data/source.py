"""Where a dataset comes from: :class:`DataSource` is what ``conf/data/*.yaml`` instantiates
(``_target_: l2h.data.DataSource``), and ``load()`` reads it into a checked :class:`Dataset`.

Formats: ``digits`` (built in, no file), ``mat`` (MATLAB v5 and v7.3), ``npz``, ``npy``, ``idx`` (a folder of the
four MNIST files, or one IDX file), ``hdf5`` (ann-benchmarks), ``fvecs`` / ``bvecs`` / ``ivecs`` (TEXMEX). With no
``format`` the path's extension (then its first bytes) decides. Every mistake in a setting or a file ends in one
:class:`~l2h.errors.L2HError` line naming the problem and the fix."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from l2h.data import formats
from l2h.data import views as two_views
from l2h.data.dataset import Dataset, check_features
from l2h.data.formats.common import DATA, Names, existing
from l2h.errors import L2HError

_SETTINGS = ("path", "labels_path", "queries_path", "ground_truth_path")


class DataSource:
    """A dataset's location and layout; nothing is read until :meth:`load`.

    - ``features`` / ``labels``: the array (variable, dataset) names inside the file; ``None`` takes the format's
      default (npz ``X`` / ``y``, mat ``X`` / ``X_class``, hdf5 ``train`` / none), labels only if present.
      Two names (``[X_image, X_text]``) read two views of the same items (:mod:`l2h.data.views`)
    - ``views``: ``halves`` makes each image's left and right halves its two views; ``None``: one view
    - ``labels_path``: a second file of labels (``.npy``, ``.npz``, ``.mat``, ``.hdf5``, IDX, or text with one
      label per line); ``labels`` then names the array inside it
    - ``queries_path`` / ``ground_truth_path``: TEXMEX-style files of the data's own queries and their true
      neighbours; a queries file replaces the queries (and ground truth) a file brings
    - ``example``: the file name the missing-path message shows; ``n_query`` / ``n_train``: protocol sizes that suit
      this dataset, stored for the protocol to read
    - ``lazy``: ``None`` keeps feature matrices over 256 MiB on disk (memory-mapped / read on demand) and reads
      smaller ones into memory; ``True`` / ``False`` force either way"""

    def __init__(self, name: str, format: str | None = None, path: str | os.PathLike | None = None,
                 features: str | None = None, labels: str | None = None, labels_path: str | os.PathLike | None = None,
                 queries_path: str | os.PathLike | None = None, ground_truth_path: str | os.PathLike | None = None,
                 example: str = "file", n_query: int | None = None, n_train: int | None = None,
                 lazy: bool | None = None, views: str | None = None):
        if not isinstance(name, str) or not name.strip():
            raise L2HError(f"data.name must be a non-empty name, got {name!r}")
        self.name = name
        self.format = None if format is None else formats.format_name(format)
        for setting, value in (("path", path), ("labels_path", labels_path), ("queries_path", queries_path),
                               ("ground_truth_path", ground_truth_path)):
            if value is not None and not isinstance(value, (str, os.PathLike)):
                raise L2HError(f"data.{setting} must be a path, got {value!r}")
            if isinstance(value, str) and not value.strip():
                raise L2HError(f"data.{setting} is empty: give a path, or null")
        if isinstance(features, Sequence) and not isinstance(features, str):  # two views of the same items
            features = tuple(features)
            if len(features) != 2 or not all(isinstance(f, str) and f for f in features):
                raise L2HError(f"data.features names one array, or the two views' arrays [A,B], got {features!r}")
            if views is not None:
                raise L2HError("data.features names two views already, and data.views cuts one array in two: "
                               "drop one of them")
            if queries_path is not None:
                raise L2HError("two-view data takes its queries from its own items: drop data.queries_path")
        for setting, value in (("features", None if isinstance(features, tuple) else features), ("labels", labels),
                               ("example", example)):
            if value is not None and (not isinstance(value, str) or not value):
                raise L2HError(f"data.{setting} must be a name, got {value!r}")
        for setting, value in (("n_query", n_query), ("n_train", n_train)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise L2HError(f"data.{setting} must be a positive integer or null, got {value!r}")
        if lazy is not None and not isinstance(lazy, bool):
            raise L2HError(f"data.lazy must be true, false or null, got {lazy!r}")
        if ground_truth_path is not None and queries_path is None and self.format not in (None, "hdf5"):
            raise L2HError("data.ground_truth_path needs the queries it belongs to: add data.queries_path")
        self.path, self.features, self.labels = path, features, labels
        self.labels_path, self.queries_path, self.ground_truth_path = labels_path, queries_path, ground_truth_path
        self.example, self.n_query, self.n_train, self.lazy = example, n_query, n_train, lazy
        self.views = two_views.check_views(views)

    def __repr__(self) -> str:
        shown = {k: getattr(self, k) for k in ("format", "path", "features", "labels", *_SETTINGS[1:])}
        shown = [repr(self.name)] + [f"{k}={v!r}" for k, v in shown.items() if v is not None]
        return f"DataSource({', '.join(shown)})"

    def resolved_format(self) -> str:
        """The format, guessed from the path when not given."""
        if self.format == "digits":
            return "digits"
        path = self._path()
        return self.format or formats.guess_format(path)

    def check(self) -> None:
        """Cheap checks before any work: the format is known and every named file exists. Reads no data."""
        fmt = self.resolved_format()
        if fmt == "digits":
            if self.path is not None:
                raise L2HError(f"the digits data is built in and reads no file: drop data.path={self.path}, or set "
                               "data.format for your file")
        for setting in _SETTINGS[1:]:
            if getattr(self, setting) is not None:
                existing(getattr(self, setting), f"data.{setting}")

    def load(self) -> Dataset:
        """Read and check the data; see :class:`Dataset` for what it holds."""
        self.check()
        fmt = self.resolved_format()
        path = None if fmt == "digits" else self._path()
        if isinstance(self.features, tuple):
            return self._load_two_arrays(fmt, path)
        parts = formats.read(fmt, path, DATA, features=self.features,
                             labels=None if self.labels_path else self.labels, lazy=self.lazy)
        labels = parts.labels
        if self.labels_path is not None:
            labels = formats.read_array(self.labels_path, "data.labels_path", key=self.labels, what="labels")
        queries, neighbors = parts.queries, parts.neighbors
        if self.queries_path is not None:
            queries = read_features(self.queries_path, setting="data.queries_path", lazy=False, queries=True)
            neighbors = None
        if self.ground_truth_path is not None:
            if queries is None:
                raise L2HError(f"data.ground_truth_path needs the queries it belongs to, and {self.name} brings none: "
                               "add data.queries_path")
            neighbors = formats.read_array(self.ground_truth_path, "data.ground_truth_path", what="ground truth")
        data = Dataset.create(self.name, parts.features, labels, item_shape=parts.item_shape, queries=queries,
                              neighbors=neighbors, metric=parts.metric, row_check=parts.row_check)
        return data if self.views is None else two_views.halves(data)

    def _load_two_arrays(self, fmt: str, path: Path | None) -> Dataset:
        """``data.features=[A, B]``: two arrays of the same items, the views of one two-view dataset."""
        read = [formats.read(fmt, path, DATA, features=name, labels=None if self.labels_path else self.labels,
                             lazy=False, want_labels=first) for name, first in zip(self.features, (True, False))]
        labels = read[0].labels
        if self.labels_path is not None:
            labels = formats.read_array(self.labels_path, "data.labels_path", key=self.labels, what="labels")
        view_a, view_b = (Dataset.create(f"{self.name} ({name})", parts.features, item_shape=parts.item_shape)
                          for name, parts in zip(self.features, read))
        return two_views.paired(self.name, view_a, view_b, labels)

    def _path(self) -> Path:
        if self.path is None:
            raise L2HError(f"data={self.name} reads a file: add data.path=/path/to/{self.example}")
        return existing(self.path, "data.path", folder=None)


def read_features(path, format: str | None = None, key: str | None = None, *, lazy: bool | None = None,
                  setting: str = "path", queries: bool = False):
    """The feature matrix ``(n, d)`` of a file, for commands that read only vectors (queries to search, a database
    to index): the same formats and checks as :meth:`DataSource.load`, no labels. Small files come back as checked
    float32 arrays; large ones (or ``lazy=True``) as memory-mapped / lazy arrays checked for type and shape only:
    to read those checked block by block, use ``DataSource(...).load().chunks()``. ``setting`` names the option
    the messages tell the user to fix; a setting ``X.path`` has its siblings ``X.format`` and ``X.key``.

    ``queries``: the file is read as query vectors. An ann-benchmarks HDF5 file then gives its ``test`` rows (the
    queries), not its ``train`` rows (the items), and one without ``test`` is refused unless ``key`` names a
    dataset; an ``.ivecs`` file (integer ground truth) is refused."""
    prefix = setting[:-len("path")] if setting.endswith(".path") else ""
    names = Names(setting, prefix + "format", prefix + "key", "labels")
    if path is None:
        raise L2HError(f"{setting} is not set: give the path of a file of vectors")
    p = existing(path, setting, folder=None)
    fmt = formats.format_name(format, names.format) if format is not None else formats.guess_format(p, names)
    if fmt == "digits":
        raise L2HError(f"{setting} names a file; the built-in digits are no vector file")
    if queries and fmt == "ivecs":
        raise L2HError(f"{p} is an .ivecs file, integer ground truth (the ids of each query's true neighbours), not "
                       f"query vectors: give the queries' .fvecs / .bvecs file (e.g. sift_query.fvecs) as {setting}")
    if queries and fmt == "hdf5" and key is None:
        from l2h.data.formats import hdf5

        held = hdf5.dataset_names(p, setting)
        if hdf5.QUERIES not in held:
            fix = (f"give {names.features}=NAME to read another dataset's rows as the queries" if prefix else
                   f"give a file whose {hdf5.QUERIES!r} dataset holds the queries")
            raise L2HError(f"{p} has no {hdf5.QUERIES!r} dataset, where an ann-benchmarks file keeps its queries (it "
                           f"has {', '.join(held[:12]) or 'nothing'}): {fix}")
        key = hdf5.QUERIES
    parts = formats.read(fmt, p, names, features=key, lazy=lazy, want_labels=False)
    x, _, _ = check_features(p.name, parts.features, "features", parts.item_shape)
    return x
