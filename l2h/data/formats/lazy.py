"""A 2-D HDF5 dataset read row by row on demand, so a database larger than memory never loads whole.

HDF5 (h5py) reads any selection of rows, but fancy selections must be increasing, and selecting thousands of
scattered rows one by one is slow: rows are therefore read in sorted order, dense runs as one slab, and handed
back in the order asked. A MATLAB v7.3 matrix is stored transposed (columns are items); ``transposed=True``
reads its columns as rows."""

from __future__ import annotations

import numpy as np

SLAB_BYTES = 1 << 25  # at most 32 MiB of raw rows are read in one HDF5 call


class H5Array:
    """``shape``, ``dtype``, ``ndim``, ``len()``, ``[index]`` (an int, a slice, an int array in any order, a
    boolean mask, optionally with a column index after it) and ``np.asarray()`` (reads everything). Holds the
    path and opens the file on first use, so it survives pickling."""

    def __init__(self, path, key: str, transposed: bool = False):
        self.path, self.key, self.transposed = str(path), key, bool(transposed)
        self._file = None
        ds = self._dataset()
        if ds.ndim != 2:
            raise ValueError(f"H5Array reads 2-D datasets, {key!r} has shape {ds.shape}")
        self.shape = tuple(int(s) for s in (ds.shape[::-1] if transposed else ds.shape))
        self.dtype = ds.dtype
        self.ndim = 2

    def _dataset(self):
        if self._file is None:
            import h5py

            self._file = h5py.File(self.path, "r")
        return self._file[self.key]

    def __getstate__(self):
        return {"path": self.path, "key": self.key, "transposed": self.transposed, "shape": self.shape,
                "dtype": self.dtype, "ndim": 2, "_file": None}

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __repr__(self) -> str:
        return f"H5Array({self.path!r}, {self.key!r}, shape={self.shape}, dtype={self.dtype})"

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __getitem__(self, index):
        cols = None
        if isinstance(index, tuple):
            if len(index) > 2:
                raise IndexError(f"too many indices for a 2-D array: {len(index)}")
            index, cols = index if len(index) == 2 else (index[0], None)
        n = self.shape[0]
        if isinstance(index, (int, np.integer)):
            i = int(index) + n if index < 0 else int(index)
            if not 0 <= i < n:
                raise IndexError(f"row {index} is out of range for {n} rows")
            out = self._slab(i, i + 1)[0]
        elif isinstance(index, slice):
            start, stop, step = index.indices(n)
            out = self._slab(start, max(start, stop)) if step == 1 else self._take(np.arange(start, stop, step))
        else:
            idx = np.asarray(index)
            if idx.dtype.kind == "b":
                if idx.shape != (n,):
                    raise IndexError(f"a boolean mask must have {n} entries, got shape {idx.shape}")
                idx = np.flatnonzero(idx)
            if idx.dtype.kind not in "iu" or idx.ndim != 1:
                raise IndexError(f"rows are selected by an int, a slice or a 1-D int array, got {idx.dtype} "
                                 f"{idx.shape}")
            idx = idx.astype(np.int64)
            if idx.size and (idx.min() < -n or idx.max() >= n):
                raise IndexError(f"row ids must lie in [-{n}, {n}), got {idx.min()} .. {idx.max()}")
            out = self._take(np.where(idx < 0, idx + n, idx))
        return out if cols is None else out[..., cols]

    def _slab(self, start: int, stop: int) -> np.ndarray:
        ds = self._dataset()
        if stop <= start:
            return np.empty((0, self.shape[1]), dtype=self.dtype)
        if self.transposed:
            return np.ascontiguousarray(ds[:, start:stop].T)
        return ds[start:stop]

    def _take(self, idx: np.ndarray) -> np.ndarray:
        out = np.empty((len(idx), self.shape[1]), dtype=self.dtype)
        if not len(idx):
            return out
        unique, inverse = np.unique(idx, return_inverse=True)
        got = np.empty((len(unique), self.shape[1]), dtype=self.dtype)
        per_slab = max(1, SLAB_BYTES // max(1, self.shape[1] * self.dtype.itemsize))
        ds = self._dataset()
        lo = 0
        while lo < len(unique):
            # the longest run of wanted rows whose covering slab stays within SLAB_BYTES
            hi = int(np.searchsorted(unique, unique[lo] + per_slab, side="left"))
            first, last = int(unique[lo]), int(unique[hi - 1])
            wanted = unique[lo:hi]
            if (hi - lo) * 4 >= last - first + 1:  # dense: read the slab and pick
                got[lo:hi] = self._slab(first, last + 1)[wanted - first]
            elif self.transposed:
                got[lo:hi] = ds[:, wanted].T
            else:
                got[lo:hi] = ds[wanted]
            lo = hi
        out[:] = got[inverse.reshape(-1)]
        return out
