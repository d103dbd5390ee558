"""Appendable bucket tables: the one under :class:`HashIndex` (one table keyed on the whole code) and the ``m``
substring tables of :class:`MultiIndexHash`.

Rows are numbered in insertion order. Each table keeps

- a **compact base**: rows 0..base_n-1 grouped by bucket, ascending within a bucket (``brows``), bucket b's
  rows at ``brows[t, bstart[t, b]:bstart[t, b + 1]]``: a search reads each bucket's rows contiguously;
- a **chained tail** for the rows added since: ``nxt[t, row - base_n]`` links each to the previous tail row of
  the same key (-1 at the end), each bucket's newest tail row is its ``tail`` head, and ``tbucket`` records
  each tail row's bucket.

Adding n rows links them in O(n). When the tail outgrows half the base, it is merged into a new base by one
counting sort on the rows' buckets (O(rows), reading the tail in order, following no chain); the base grows by
at least half each time, so merging costs O(1) per row amortised, and searches follow chains for at most a
third of the rows (none after a merge). Saving merges first.

Keys are found by
- **direct addressing** when the key space is small (at most 2^12 keys, or no more than twice the rows): the
  bucket number is the key;
- **hashing** otherwise: buckets numbered in order of first appearance, with their key (``bkey``), found through
  an open-addressing slot array (linear probing on a Fibonacci hash, doubled when 3/4 full) and a presence
  bitmap of 8 bits per slot that rejects most absent keys without leaving the cache.

Every history of adds that inserts the same rows in the same order gives the same saved arrays: buckets are
numbered by first appearance, slots are laid out by placing buckets 0, 1, 2... in order at the capacity their
count implies, a table turns direct when its row count says so, and a merged base depends only on the rows.

Memory per table: 4 bytes per row (``brows``), 8 more per tail row (its link and bucket), and per bucket 4
(``bstart``) + 4 (``tail``), plus when hashed its key (4 or 8 bytes), 5.3 to 10.7 bytes of slots and 1.3 to 2.7
of bitmap."""

from __future__ import annotations

import numpy as np

from l2h.errors import L2HError
from l2h.index import kernels

DIRECT_BITS = 12           # key spaces this small are always addressed directly
MAX_ROWS = 2**31 - 2       # rows are int32


def _grown(a: np.ndarray, width: int, fill) -> np.ndarray:
    """Copy of a 2-D array with ``width`` columns (>= its own), new columns set to ``fill``."""
    out = np.full((a.shape[0], width), fill, dtype=a.dtype)
    out[:, :a.shape[1]] = a
    return out


class BucketTables:
    """``m`` bucket tables over the same rows, keys of ``key_bits[t]`` bits (<= 64)."""

    def __init__(self, key_bits: list[int]):
        self.key_bits = np.asarray(key_bits, dtype=np.int64)
        self.m = len(key_bits)
        self.max_bits = int(self.key_bits.max())
        self.key_dtype = np.uint32 if self.max_bits <= 32 else np.uint64
        self.n = 0
        self.base_n = 0
        m = self.m
        self.brows = np.empty((m, 0), dtype=np.int32)
        self.bstart = np.zeros((m, 1), dtype=np.int32)      # (m, keys + 1)
        self.nbase = np.zeros(m, dtype=np.int64)             # buckets the base covers
        self.nxt = np.empty((m, 0), dtype=np.int32)         # tail links, by row - base_n
        self.tbucket = np.empty((m, 0), dtype=np.int32)     # bucket of each tail row, for merging
        self.tail = np.empty((m, 0), dtype=np.int32)        # newest tail row per bucket, -1 if none
        self.direct = False
        self.bkey = np.empty((m, 0), dtype=self.key_dtype)
        self.nb = np.zeros(m, dtype=np.int64)
        self.log2cap = np.full(m, kernels.MIN_LOG2CAP, dtype=np.int64)
        self.slots = np.full((m, 2**kernels.MIN_LOG2CAP), -1, dtype=np.int32)
        self.present = np.zeros((m, self._present_words(kernels.MIN_LOG2CAP)), dtype=np.uint64)
        if self._should_be_direct(0):
            self._to_direct()

    @staticmethod
    def _present_words(log2cap: int) -> int:
        return max(1, 2 ** (log2cap + kernels.FILTER_BITS) // 64)

    def _should_be_direct(self, rows: int) -> bool:
        return self.max_bits <= DIRECT_BITS or 2**self.max_bits <= 2 * rows

    @property
    def tail_n(self) -> int:
        return self.n - self.base_n

    # ------------------------------------------------------------------ adding

    def add(self, keys: np.ndarray) -> None:
        """Append rows n, n+1, ... with keys (rows, m) uint64."""
        new = keys.shape[0]
        if new == 0:
            return
        if self.n + new > MAX_ROWS:
            raise L2HError(f"an index holds at most {MAX_ROWS} codes, this add would bring {self.n + new}: "
                           "split the database over several indexes")
        for name in ("tail", "bkey", "nb"):  # a loaded index holds read-only maps: copy what changes
            if not getattr(self, name).flags.writeable:
                setattr(self, name, np.array(getattr(self, name)))
        if not self.direct and self._should_be_direct(self.n + new):
            self._to_direct()
        if self.nxt.shape[1] < self.tail_n + new:
            width = max(self.tail_n + new, 2 * self.nxt.shape[1])
            self.nxt = _grown(self.nxt[:, :self.tail_n], width, -1)
            self.tbucket = _grown(self.tbucket[:, :self.tail_n], width, 0)
        keys = np.ascontiguousarray(keys, dtype=np.uint64)
        if self.direct:
            kernels.insert_direct(self.kernel_args(), keys, self.n)
        else:
            t, i = 0, 0
            while True:
                t, i, status = kernels.insert_hashed(self.kernel_args(), keys, self.n, t, i)
                if status == kernels.DONE:
                    break
                if status == kernels.NEED_BUCKETS:
                    width = max(16, 2 * self.bkey.shape[1])
                    self.bkey, self.tail = _grown(self.bkey, width, 0), _grown(self.tail, width, -1)
                else:
                    self._double_slots(int(t))
        self.n += new
        if self.tail_n > self.base_n // 2:
            self.merge()

    def _double_slots(self, t: int) -> None:
        self.log2cap[t] += 1
        width = 2 ** int(self.log2cap[t])
        if width > self.slots.shape[1]:
            self.slots = _grown(self.slots, width, -1)
            self.present = _grown(self.present, self._present_words(int(self.log2cap[t])), 0)
        kernels.rehash(self.kernel_args(), t)

    def _keys_of(self, t: int) -> int:
        return 2 ** int(self.key_bits[t]) if self.direct else int(self.nb[t])

    def merge(self, to_direct: bool = False) -> None:
        """Fold the tail into the base (and, with ``to_direct``, renumber hashed buckets by key)."""
        if self.tail_n == 0 and not to_direct:
            return
        width = 2**self.max_bits if (self.direct or to_direct) else int(self.nb.max())
        bstart = np.zeros((self.m, width + 1), dtype=np.int32)
        brows = np.empty((self.m, self.n), dtype=np.int32)
        tables = self.kernel_args()
        for t in range(self.m):
            old_keys = self._keys_of(t)
            kernels.merge_table(tables, t, self.n, old_keys, to_direct and not self.direct, bstart, brows)
            new_keys = 2 ** int(self.key_bits[t]) if (self.direct or to_direct) else old_keys
            bstart[t, new_keys + 1:] = self.n
        self.bstart, self.brows, self.base_n = bstart, brows, self.n
        self.nxt = np.empty((self.m, 0), dtype=np.int32)  # the tail is empty: its links go
        self.tbucket = np.empty((self.m, 0), dtype=np.int32)
        self.tail[:] = -1
        if not (self.direct or to_direct):  # and the bucket arrays lose their spare room (regained by doubling)
            used = int(self.nb.max())
            self.bkey, self.tail = self.bkey[:, :used].copy(), self.tail[:, :used].copy()
        self.nbase = np.array([2 ** int(b) if (self.direct or to_direct) else int(self.nb[t])
                               for t, b in enumerate(self.key_bits)], dtype=np.int64)

    def _to_direct(self) -> None:
        self.merge(to_direct=True)
        self.direct = True
        self.tail = np.full((self.m, 2**self.max_bits), -1, dtype=np.int32)
        self.bkey = np.empty((self.m, 0), dtype=self.key_dtype)
        self.nb = np.zeros(self.m, dtype=np.int64)
        self.slots = np.empty((self.m, 0), dtype=np.int32)
        self.present = np.empty((self.m, 0), dtype=np.uint64)

    # ------------------------------------------------------------------ reading

    def kernel_args(self) -> kernels.Tables:
        """The arrays the kernels read and write (a new bundle after any array is replaced)."""
        return kernels.Tables(direct=self.direct, base_n=self.base_n, bstart=self.bstart, nbase=self.nbase,
                              brows=self.brows, tail=self.tail, nxt=self.nxt, tbucket=self.tbucket, bkey=self.bkey,
                              nb=self.nb, slots=self.slots, present=self.present, log2cap=self.log2cap)

    def n_buckets(self, t: int) -> int:
        """Keys a scan of table t visits."""
        return self._keys_of(t)

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.brows, self.bstart, self.nxt, self.tbucket, self.tail, self.bkey, self.slots,
                                      self.present))

    def row_keys(self, t: int) -> np.ndarray:
        """The key of every row in table t, (n,) uint64."""
        out = np.zeros(self.n, dtype=np.uint64)
        keys = np.arange(self._keys_of(t), dtype=np.uint64) if self.direct else \
            self.bkey[t, :self._keys_of(t)].astype(np.uint64)
        kernels.fill_row_keys(self.kernel_args(), t, keys, out)
        return out

    # ------------------------------------------------------------------ saving and loading (merged base only)

    def arrays(self) -> dict[str, np.ndarray]:
        self.merge()
        width = 2**self.max_bits if self.direct else (int(self.nb.max()) if self.m else 0)
        out = {"brows": self.brows, "bstart": self.bstart[:, :width + 1]}
        if not self.direct:
            out.update(bkey=self.bkey[:, :width], nb=self.nb)
        return out

    @classmethod
    def from_arrays(cls, key_bits: list[int], n: int, direct: bool, check) -> BucketTables:
        """Tables from saved arrays, each checked for what keeps every search in bounds and exact: offsets from
        0 to the row count, never decreasing, every bucket of a hashed table non-empty, each table's rows a
        permutation, ascending within a bucket, keys within their bits and distinct.
        ``check(name, dtype, shape)`` fetches and type-checks an array."""
        self = cls(key_bits)
        if self._should_be_direct(n) != direct:
            raise L2HError(f"says its tables are {'direct' if direct else 'hashed'}, which {n} rows of "
                           f"{self.max_bits}-bit keys never give")
        m = self.m
        if direct:
            width = 2**self.max_bits
            counts = np.array([2 ** int(b) for b in self.key_bits], dtype=np.int64)
        else:
            counts = np.array(check("nb", np.int64, (m,)))
            if ((counts < 0) | (counts > n) | ((counts == 0) & (n > 0))).any():
                raise L2HError("has a bucket count outside 1..rows")
            width = int(counts.max()) if m else 0
        bstart = check("bstart", np.int32, (m, width + 1))
        brows = check("brows", np.int32, (m, n))
        for t in range(m):
            used = int(counts[t])
            starts = bstart[t].astype(np.int64)
            steps = np.diff(starts)
            if starts[0] != 0 or starts[used] != n or (starts[used:] != n).any() or (steps < 0).any():
                raise L2HError(f"table {t} has bucket offsets that do not run from 0 to {n}")
            if not direct and (steps[:used] == 0).any():
                raise L2HError(f"table {t} has an empty bucket")
            if not kernels.is_grouped_permutation(brows[t], starts[:used + 1]):
                raise L2HError(f"table {t} does not list every row once, ascending within each bucket")
        if not direct:
            bkey = check("bkey", self.key_dtype, (m, width))
            for t in range(m):
                keys = bkey[t, :int(counts[t])]
                if self.key_bits[t] < 64 and (keys >> np.asarray(self.key_bits[t], dtype=keys.dtype)).any():
                    raise L2HError(f"table {t} has keys beyond its {int(self.key_bits[t])} bits")
            self.bkey, self.nb = bkey, counts
            self.tail = np.full((m, width), -1, dtype=np.int32)
            self._rebuild_slots()
        self.n = self.base_n = n
        self.bstart, self.brows = bstart, brows
        self.nbase = counts.copy()
        return self

    def _rebuild_slots(self) -> None:
        log2cap = np.full(self.m, kernels.MIN_LOG2CAP, dtype=np.int64)
        for t in range(self.m):
            while 4 * int(self.nb[t]) > 3 * 2 ** int(log2cap[t]):
                log2cap[t] += 1
        self.log2cap = log2cap
        self.slots = np.full((self.m, 2 ** int(log2cap.max())), -1, dtype=np.int32)
        self.present = np.zeros((self.m, self._present_words(int(log2cap.max()))), dtype=np.uint64)
        for t in range(self.m):
            duplicate = kernels.rehash(self.kernel_args(), t)
            if duplicate >= 0:
                raise L2HError(f"table {t} holds key {int(self.bkey[t, duplicate])} in two buckets")
