"""The dataset every reader returns, validated once so later stages can trust it.

Features are always exposed as ``(n, d)``. Small files are read into memory as float32 and checked whole when
they load. Files larger than memory stay on disk: ``features`` is then a memory-mapped or lazy array (an
``np.memmap``, or :class:`l2h.data.formats.lazy.H5Array`) in the file's own dtype, whose type and shape are
checked at load, and whose values are checked as :meth:`Dataset.rows` and :meth:`Dataset.chunks` read them.
Code that needs feature values should read them through ``rows``/``chunks``: both give float32 and refuse
NaN / inf with the row named, whichever way the data is held.

Labels are always in memory: ``None``, int64 class ids ``(n,)``, or uint8 multi-hot ``(n, L)``. String labels
become class ids in sorted order (numerically sorted when every label is an integer written as text), and
``class_names[i]`` is the original text of class ``i``."""

from __future__ import annotations

import hashlib
import mmap
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from l2h.errors import L2HError

BLOCK_BYTES = 1 << 25  # 32 MiB: the most float32 data rows(), chunks() and the checks convert at a time
CHUNK_BYTES = 1 << 28  # 256 MiB: the most float32 features one chunk of index.py or evaluation holds
_INTEGER_TEXT = re.compile(r"\s*[+-]?\d+\s*")
_MAX_LABEL = 2**62  # class ids beyond this are certainly a mistake, and would not survive float arithmetic


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """Build with :meth:`Dataset.create`, which checks everything; the plain constructor trusts its arguments.

    - ``features``: ``(n, d)``; a float32 array in memory, or a lazy / memory-mapped array (see the module notes)
    - ``labels``: ``None``, int64 class ids ``(n,)`` or uint8 multi-hot ``(n, L)``
    - ``item_shape``: ``None`` for vectors, ``(c, h, w)`` when each item is an image (features stay flattened)
    - ``queries``: ``None`` or float32 ``(nq, d)``: the file's own queries (ann-benchmarks ``test``, TEXMEX)
    - ``neighbors``: ``None`` or int64 ``(nq, k)``: each query's true neighbours, as row ids into ``features``
    - ``class_names``: ``None``, or the original label of each class id when the labels were text
    - ``metric``: the distance the file declares (ann-benchmarks ``distance``: "euclidean", "angular", ...)
    - ``roles``: ``None``, or the rows of each role the data names itself (``query``, ``train``, ``database``: an
      image list's ``test`` / ``train`` / ``database`` files), which ``protocol=given`` follows
    - ``view_dims``: ``None``, or ``(d_a, d_b)`` when each item has two views (``data.views=halves``, two
      ``data.features``): the features are view a's ``d_a`` columns then view b's ``d_b``, so splits, protocols
      and fingerprints treat the pair as one item (:mod:`l2h.data.views`)"""

    name: str
    features: object
    labels: np.ndarray | None = None
    item_shape: tuple[int, ...] | None = None
    queries: np.ndarray | None = None
    neighbors: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None
    metric: str | None = None
    checked: bool = False  # True when every feature value was checked finite at load (data in memory)
    row_check: Callable[[object], None] | None = field(default=None, repr=False)  # extra check of rows read
    roles: dict[str, np.ndarray] | None = field(default=None, repr=False)
    view_dims: tuple[int, int] | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def create(cls, name: str, features, labels=None, *, item_shape: tuple[int, ...] | None = None,
               queries=None, neighbors=None, metric: str | bytes | None = None,
               row_check: Callable[[object], None] | None = None) -> Dataset:
        """Check and normalise every part. Features of shape ``(n, h, w)`` are images ``(1, h, w)`` and
        ``(n, c, h, w)`` images ``(c, h, w)``, flattened to ``(n, d)``. Arrays in memory are converted to float32
        and checked finite here; memory-mapped / lazy arrays keep their dtype and are checked as they are read.
        ``row_check(index)`` is called on every block of rows read (TEXMEX files check their row headers)."""
        name = str(name)
        x, images, checked = check_features(name, features, "features", item_shape)
        y, class_names = (None, None) if labels is None else check_labels(name, labels, x.shape[0])
        q = None
        if queries is not None:
            q, q_shape, _ = check_features(name, queries, "queries", None, in_memory=True)
            if q.shape[1] != x.shape[1] or (q_shape and images and q_shape != images):
                got = q_shape or q.shape[1]
                want = images or x.shape[1]
                raise L2HError(f"{name}: the queries have shape {got} per item but the features {want}: the queries "
                               "must come from the same data as the features")
        nb = None
        if neighbors is not None:
            if q is None:
                raise L2HError(f"{name}: ground-truth neighbours were given without queries: give the queries they "
                               "belong to (data.queries_path), or drop data.ground_truth_path")
            nb = check_neighbors(name, neighbors, q.shape[0], x.shape[0])
        if isinstance(metric, bytes):
            metric = metric.decode("utf-8", "replace")
        return cls(name, x, y, images, q, nb, class_names, None if metric is None else str(metric), checked, row_check)

    # ---- shape -------------------------------------------------------------------------------------------------

    @property
    def n(self) -> int:
        return int(self.features.shape[0])

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    @property
    def multilabel(self) -> bool:
        return self.labels is not None and self.labels.ndim == 2

    @property
    def n_classes(self) -> int | None:
        """``None`` when unlabelled; the number of label columns for multi-hot labels; otherwise the size of the
        class-id range ``0 .. max id`` (``len(class_names)`` for text labels). Ids in that range may be unused."""
        if self.labels is None:
            return None
        if self.labels.ndim == 2:
            return int(self.labels.shape[1])
        if self.class_names is not None:
            return len(self.class_names)
        return int(self.labels.max()) + 1

    @property
    def lazy(self) -> bool:
        """True when the features stay on disk and are read on demand."""
        return not self.checked

    def __repr__(self) -> str:
        parts = [f"n={self.n}", f"dim={self.dim}"]
        if self.item_shape:
            parts.append(f"item_shape={self.item_shape}")
        if self.labels is not None:
            parts.append(f"{'multi-hot ' if self.multilabel else ''}labels of {self.n_classes} classes")
        if self.queries is not None:
            parts.append(f"{len(self.queries)} queries")
        if self.neighbors is not None:
            parts.append(f"{self.neighbors.shape[1]} true neighbours each")
        if self.metric:
            parts.append(f"metric={self.metric}")
        if self.view_dims:
            parts.append(f"views of {self.view_dims[0]} + {self.view_dims[1]} dimensions")
        if self.lazy:
            parts.append(f"lazy {type(self.features).__name__}")
        return f"Dataset({self.name!r}, {', '.join(parts)})"

    # ---- reading -----------------------------------------------------------------------------------------------

    def rows(self, index) -> np.ndarray:
        """The rows ``index`` selects (a slice, a range, an int array in any order, or a boolean mask over all
        rows) as a new float32 array ``(m, d)``. Lazy data is read block by block and each block is checked:
        NaN or inf is refused with an :class:`L2HError` naming the first bad row."""
        picked = _row_index(index, self.n)
        m = picked.stop - picked.start if isinstance(picked, slice) else len(picked)
        if self.checked and self.row_check is None:
            block = self.features[picked]  # float32 in memory: a view for a slice, a new array otherwise
            return block.copy() if isinstance(picked, slice) else block
        out = np.empty((m, self.dim), dtype=np.float32)
        step = _block_rows(self.dim)
        for lo in range(0, m, step):
            hi = min(m, lo + step)
            part = slice(picked.start + lo, picked.start + hi) if isinstance(picked, slice) else picked[lo:hi]
            if self.row_check is not None:
                self.row_check(part)
            raw = self.features[part]
            with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported as a bad row below
                np.copyto(out[lo:hi], raw, casting="unsafe")
            if not self.checked:
                _refuse_non_finite(self.name, "features", out[lo:hi], raw, part)
            _release(raw)
        return out

    def chunks(self, size: int = 65536) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, block)`` over all rows in order, each block float32 ``(<= size, d)`` and checked as
        :meth:`rows` checks. Data in memory yields read-only views; lazy data reads one block at a time."""
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise L2HError(f"chunk size must be a positive integer, got {size!r}")
        size = int(size)
        for start in range(0, self.n, size):
            stop = min(self.n, start + size)
            if self.checked and self.row_check is None:
                yield start, self.features[start:stop]
            else:
                yield start, self.rows(slice(start, stop))

    def fingerprint(self) -> str:
        """SHA-256 (hex) of the data as l2h sees it: the features as float32 rows, the labels, the class names,
        the queries and the neighbours, each with its shape. Read in bounded chunks; computed once, then cached.
        The same data stored in two formats has the same fingerprint, except image datasets: their features are
        fingerprinted by what they are decoded from (``made_from()``: the files' names, sizes and times, the
        batches' bytes, the transform), which costs no decoding."""
        if "sha256" not in self._cache:
            h = hashlib.sha256(b"l2h.dataset.v1\0")
            _section(h, "features", (self.n, self.dim), "<f4")
            made_from = getattr(self.features, "made_from", None)
            if made_from is not None:  # image files: what the rows are decoded from, not every image decoded
                h.update(made_from())
            else:
                for _, block in self.chunks(_block_rows(self.dim)):
                    h.update(np.ascontiguousarray(block, dtype="<f4").tobytes())
            if self.labels is not None:
                dtype = "<u1" if self.multilabel else "<i8"
                _section(h, "labels", self.labels.shape, dtype)
                h.update(np.ascontiguousarray(self.labels, dtype=dtype).tobytes())
            if self.class_names is not None:
                _section(h, "class_names", (len(self.class_names),), "utf-8")
                h.update("\0".join(self.class_names).encode("utf-8"))
            if self.queries is not None:
                _section(h, "queries", self.queries.shape, "<f4")
                h.update(np.ascontiguousarray(self.queries, dtype="<f4").tobytes())
            if self.neighbors is not None:
                _section(h, "neighbors", self.neighbors.shape, "<i8")
                h.update(np.ascontiguousarray(self.neighbors, dtype="<i8").tobytes())
            if self.view_dims is not None:
                _section(h, "view_dims", self.view_dims, "<i8")
            self._cache["sha256"] = h.hexdigest()
        return self._cache["sha256"]


# ---- checks (also used by the readers) -----------------------------------------------------------------------


def is_lazy(x) -> bool:
    """True for arrays whose data stays on disk: a view of a memory map, or an array-like that is no ndarray."""
    if isinstance(x, np.ndarray):
        base = x
        while isinstance(base, np.ndarray):
            base = base.base
        return isinstance(base, mmap.mmap)
    return hasattr(x, "shape") and hasattr(x, "dtype") and hasattr(x, "__getitem__")


def _release(block) -> None:
    """Hand the pages of a memory-mapped block back once it has been copied out: the process then holds about one
    block of a file, not all it has read (the kernel's page cache may still keep them)."""
    base = block
    while isinstance(base, np.ndarray):
        base = base.base
    if not isinstance(base, mmap.mmap) or not hasattr(mmap, "MADV_DONTNEED") or block.size == 0 \
            or min(block.strides) < 0:
        return
    start = np.frombuffer(base, dtype=np.uint8).__array_interface__["data"][0]
    first = block.__array_interface__["data"][0] - start
    span = sum((n - 1) * st for n, st in zip(block.shape, block.strides)) + block.itemsize
    lo = first - first % mmap.PAGESIZE
    base.madvise(mmap.MADV_DONTNEED, lo, min(len(base), first + span) - lo)


def check_dtype(name: str, what: str, dtype: np.dtype) -> None:
    """Numbers and booleans (read as 0 / 1) are features; complex, text, objects and records are refused."""
    dtype = np.dtype(dtype)
    if dtype.kind in "biuf":
        return
    if dtype.kind == "c":
        raise L2HError(f"{name}: the {what} are complex ({dtype}): l2h hashes real vectors; store the real part, the "
                       "magnitude, or real and imaginary parts as separate dimensions")
    kinds = {"O": "Python objects", "U": "text", "S": "bytes", "V": "records", "M": "dates", "m": "time spans"}
    raise L2HError(f"{name}: the {what} must be numbers, got {kinds.get(dtype.kind, 'values')} (dtype {dtype}): "
                   "store a numeric array")


def check_features(name: str, x, what: str = "features", item_shape=None, in_memory: bool = False):
    """``(array (n, d), item shape or None, checked)``; in-memory results are float32, C-ordered, read-only and
    checked finite. Lazy arrays (unless ``in_memory``) keep their dtype and are only checked for type and shape."""
    lazy = is_lazy(x) and not in_memory
    if not lazy:
        x = np.asarray(x)
    check_dtype(name, what, x.dtype)
    shape = tuple(int(s) for s in x.shape)
    if len(shape) == 0:
        raise L2HError(f"{name}: the {what} are a single number (a 0-dimensional array): store an items x "
                       "dimensions matrix")
    if len(shape) == 1:
        raise L2HError(f"{name}: the {what} are a 1-D array of {shape[0]} values, not items x dimensions: store "
                       "a 2-D array (n x 1 for one value per item)")
    if len(shape) > 4:
        raise L2HError(f"{name}: the {what} have {len(shape)} axes {shape}: give items x dimensions, or images as "
                       "items x height x width or items x channels x height x width")
    n, d = shape[0], int(np.prod(shape[1:], dtype=object))
    if n == 0:
        raise L2HError(f"{name}: the {what} hold no items (shape {shape}): the file or array is empty")
    if d == 0:
        raise L2HError(f"{name}: the {what} have 0 dimensions per item (shape {shape}): the file or array is empty")
    images = None
    if len(shape) > 2:
        images = (1, *shape[1:]) if len(shape) == 3 else shape[1:]
        if lazy and not (isinstance(x, np.ndarray) and x.flags.c_contiguous):
            x, lazy = np.asarray(x), False  # only a C-ordered map flattens without a copy
        x = x.reshape(n, d)
    elif item_shape is not None:
        images = tuple(int(s) for s in item_shape)
        if int(np.prod(images)) != d:
            raise L2HError(f"{name}: item shape {images} does not hold the {d} values of each item")
    if lazy:
        return x, images, False
    out = np.empty((n, d), dtype=np.float32)
    step = _block_rows(d)
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported as a bad row below
            np.copyto(out[lo:hi], x[lo:hi], casting="unsafe")
        _refuse_non_finite(name, what, out[lo:hi], x[lo:hi], slice(lo, hi))
    out.flags.writeable = False
    return out, images, True


def check_labels(name: str, labels, n: int) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """``(labels, class_names)``: int64 class ids ``(n,)`` (from integers, integral floats, booleans or text) or
    uint8 multi-hot ``(n, L)``. A MATLAB ``1 x n`` / ``n x 1`` vector is a label vector."""
    y = np.asarray(labels)
    if y.ndim == 0:
        raise L2HError(f"{name}: the labels are a single value, not one label per item: give a label vector")
    if y.ndim == 2 and 1 in y.shape and y.size == n:
        y = y.reshape(-1)  # MATLAB stores a label vector as 1 x n or n x 1
    if y.ndim > 2:
        raise L2HError(f"{name}: the labels have {y.ndim} axes {y.shape}: give a label vector (n,) or a multi-hot "
                       "matrix (n, labels)")
    if y.shape[0] != n:
        count = y.size if y.ndim == 2 and 1 in y.shape else y.shape[0]  # a MATLAB vector of the wrong length
        raise L2HError(f"{name}: {count} labels for {n} feature rows (labels of shape {y.shape}): give one label, "
                       "or one multi-hot row, per item")
    if y.ndim == 2 and y.shape[1] == 0:
        raise L2HError(f"{name}: the multi-hot labels have 0 columns: give at least one label column, or no labels")
    if y.dtype.kind == "O":
        y = _object_labels(name, y)
    if y.dtype.kind in "US":
        if y.ndim != 1:
            raise L2HError(f"{name}: text labels must be one label per item, got shape {y.shape}")
        return _text_labels(name, y)
    if y.dtype.kind == "c":
        raise L2HError(f"{name}: the labels are complex numbers ({y.dtype}): give integer class ids")
    if y.dtype.kind not in "biuf":
        raise L2HError(f"{name}: the labels must be class ids, multi-hot 0/1 or text, got dtype {y.dtype}")
    if y.ndim == 2:
        bad = ~((y == 0) | (y == 1))
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise L2HError(f"{name}: multi-hot labels must be 0 or 1, but row {row} holds {y[row, col].item()!r} in "
                           f"column {col}: give a 0/1 matrix (items x labels), or a class-id vector")
        return y.astype(np.uint8), None
    if y.dtype.kind == "b":
        return y.astype(np.int64), None
    if y.dtype.kind == "f":
        finite = np.isfinite(y)
        if not finite.all():
            row = int(np.argmin(finite))
            raise L2HError(f"{name}: label row {row} is {y[row]}: every item needs a class id (or give no labels)")
        whole = np.mod(y, 1) == 0
        if not whole.all():
            row = int(np.argmin(whole))
            raise L2HError(f"{name}: class ids must be whole numbers, but label row {row} is {y[row]}")
    negative = y < 0
    if negative.any():
        row = int(np.argmax(negative))
        raise L2HError(f"{name}: class ids must be 0 or more, but label row {row} is {y[row]}: renumber the "
                       "classes from 0")
    big = y > _MAX_LABEL
    if big.any():
        row = int(np.argmax(big))
        raise L2HError(f"{name}: label row {row} is {y[row]}, far too large for a class id: renumber the classes "
                       "from 0")
    return y.astype(np.int64), None


def check_neighbors(name: str, neighbors, n_queries: int, n: int) -> np.ndarray:
    """int64 ``(nq, k)`` row ids into the features, one row per query."""
    g = np.asarray(neighbors)
    if g.dtype.kind not in "iuf":
        raise L2HError(f"{name}: the ground-truth neighbours must be integer row ids, got dtype {g.dtype}")
    if g.ndim != 2:
        raise L2HError(f"{name}: the ground truth must be one row of neighbour ids per query, got shape {g.shape}")
    if g.shape[0] != n_queries:
        raise L2HError(f"{name}: {g.shape[0]} ground-truth rows for {n_queries} queries: the ground truth must "
                       "belong to these queries")
    if g.shape[1] == 0:
        raise L2HError(f"{name}: the ground truth holds 0 neighbours per query: give at least one")
    if g.dtype.kind == "f":
        whole = np.isfinite(g) & (np.mod(np.where(np.isfinite(g), g, 0), 1) == 0)
        if not whole.all():
            row, col = np.argwhere(~whole)[0]
            raise L2HError(f"{name}: ground-truth row {row} holds {g[row, col].item()}, not a row id")
    outside = (g < 0) | (g >= n)
    if outside.any():
        row, col = np.argwhere(outside)[0]
        raise L2HError(f"{name}: ground-truth row {row} names item {g[row, col].item()}, outside the {n} items: the "
                       "ground truth must index the rows of the features file")
    return g.astype(np.int64)


# ---- helpers -------------------------------------------------------------------------------------------------


def _object_labels(name: str, y: np.ndarray) -> np.ndarray:
    """Object arrays hold text (str / bytes, as MATLAB cells give) or plain numbers; anything else is refused."""
    flat = y.reshape(-1)
    if all(isinstance(v, (str, np.str_)) for v in flat):
        return flat.astype(str).reshape(y.shape)
    if all(isinstance(v, (bytes, np.bytes_)) for v in flat):
        return flat.astype(bytes).reshape(y.shape)
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in flat):
        return flat.astype(np.float64).reshape(y.shape)
    kinds = sorted({type(v).__name__ for v in flat})
    raise L2HError(f"{name}: the labels are a mix of Python objects ({', '.join(kinds[:4])}): give class ids, a "
                   "multi-hot matrix, or text labels")


def _text_labels(name: str, y: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    if y.dtype.kind == "S":
        try:
            text = np.array([v.decode("utf-8") for v in y.tolist()], dtype=str)
        except UnicodeDecodeError:
            row = next(i for i, v in enumerate(y.tolist()) if not _decodes(v))
            raise L2HError(f"{name}: label row {row} is not UTF-8 text: store the labels as UTF-8") from None
    else:
        text = y.astype(str)
    blank = np.char.str_len(np.char.strip(text)) == 0
    if blank.any():
        row = int(np.argmax(blank))
        raise L2HError(f"{name}: label row {row} is empty: every item needs a label (or give no labels)")
    names, ids = np.unique(text, return_inverse=True)
    if all(_INTEGER_TEXT.fullmatch(s) for s in names):
        order = sorted(range(len(names)), key=lambda i: (int(names[i]), names[i]))  # "2" before "10"
        rank = np.empty(len(names), dtype=np.int64)
        rank[order] = np.arange(len(names))
        names, ids = names[order], rank[ids]
    return ids.reshape(-1).astype(np.int64), tuple(str(s) for s in names)


def _decodes(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _refuse_non_finite(name: str, what: str, block: np.ndarray, raw, rows) -> None:
    """Raise naming the first row of ``block`` (float32) holding NaN / inf; ``rows`` maps block rows to item rows
    (a slice or an index array); ``raw`` is the block before conversion, to tell overflow from NaN."""
    finite = np.isfinite(block)
    if finite.all():
        return
    i, col = np.argwhere(~finite)[0]
    row = rows.start + int(i) if isinstance(rows, slice) else int(rows[i])
    original = np.asarray(raw[int(i)]).reshape(-1)[col] if raw is not None else block[i, col]
    if np.isfinite(original):
        value = f"{original.item()!r}, beyond float32's range,"
    else:
        value = str(block[i, col])
    raise L2HError(f"{name}: {what} row {row} holds {value} at column {col}: clean or drop that row (rows count "
                   "from 0)")


def _row_index(index, n: int):
    """A contiguous slice, or an int64 array of row ids in the caller's order; IndexError when out of range."""
    if isinstance(index, range):
        index = slice(index.start, index.stop, index.step) if index.step == 1 else np.asarray(index)
    if isinstance(index, slice):
        start, stop, step = index.indices(n)
        if step == 1:
            return slice(start, max(start, stop))
        return np.arange(start, stop, step, dtype=np.int64)
    idx = np.asarray(index)
    if idx.dtype.kind == "b":
        if idx.shape != (n,):
            raise IndexError(f"a boolean row mask must have {n} entries, got shape {idx.shape}")
        return np.flatnonzero(idx)
    if idx.size == 0:
        return np.empty(0, dtype=np.int64)
    if idx.dtype.kind not in "iu" or idx.ndim != 1:
        raise IndexError(f"rows() takes a slice or a 1-D array of integer row ids, got {idx.dtype} {idx.shape}")
    idx = idx.astype(np.int64)
    if idx.min() < -n or idx.max() >= n:
        raise IndexError(f"row ids must lie in [-{n}, {n}), got {idx.min()} .. {idx.max()}")
    return np.where(idx < 0, idx + n, idx)


def _block_rows(d: int) -> int:
    return max(1, BLOCK_BYTES // (4 * max(1, d)))


def chunk_rows(dim: int, most: int = 65536) -> int:
    """Rows per chunk of encoding (index.py, evaluation): ``most``, or fewer when ``most`` float32 rows of ``dim``
    values would pass :data:`CHUNK_BYTES` (a 224-pixel image is 588 KiB: 445 rows)."""
    return max(1, min(int(most), CHUNK_BYTES // (4 * max(1, dim))))


def _section(h, tag: str, shape, dtype: str) -> None:
    h.update(f"{tag}:{tuple(int(s) for s in shape)}:{dtype}\0".encode())
