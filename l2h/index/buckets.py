"""The bucket table under :class:`HashIndex` and each substring table of :class:`MultiIndexHash`.

Items are grouped by key (their code, or a substring of it). Buckets are sorted by a Fibonacci hash of their
key and a directory of ``2^p`` offsets (about one per two buckets) points at each hash value's run of
buckets, so a lookup reads one directory entry and one short run of keys: no per-bucket objects, no
pointers. A bitmap over the top p + 3 hash bits answers most lookups of absent keys without reading the
directory. About 11 bytes per bucket (with 32-bit codes) plus 4 per item.

When the whole key space is no larger than twice the number of items, keys are addressed directly
instead: bucket number = key, one offset per possible key, no hashing at all."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from l2h.index.kernels import FILTER_BITS, GOLDEN


def compact_ints(values: np.ndarray) -> np.ndarray:
    """Store non-negative integers as int32 when they fit, halving the memory of ids and offsets."""
    values = np.asarray(values)
    if values.size == 0 or (values.min() >= 0 and values.max() < 2**31):
        return values.astype(np.int32)
    return values.astype(np.int64)


@dataclass
class BucketTable:
    keys: np.ndarray       # (buckets,) uint32 or uint64, in directory order
    starts: np.ndarray     # (buckets + 1,) offsets into ids
    ids: np.ndarray        # (items,) ids grouped by bucket, ascending within a bucket
    directory: np.ndarray  # (2^p + 1,) first bucket of each hash value
    present: np.ndarray    # (2^(p+3) / 64,) uint64 bitmap: which (p + 3)-bit hash prefixes hold a key
    shift: np.uint64       # 64 - p
    direct: bool = False   # bucket number = key; keys, directory and present are empty

    @classmethod
    def build(cls, keys: np.ndarray, ids: np.ndarray, key_bits: int) -> BucketTable:
        keys = np.asarray(keys, dtype=np.uint64)
        if 2**key_bits <= 2 * keys.size:  # an offset per possible key costs no more than the ids
            return cls._direct(keys, np.asarray(ids), key_bits)
        unique, item_key = np.unique(np.asarray(keys, dtype=np.uint64), return_inverse=True)
        p = max(1, math.ceil(math.log2(max(unique.size, 2))) - 1)
        shift = np.uint64(64 - p)
        fine = (unique * GOLDEN) >> (shift - FILTER_BITS)
        hashes = fine >> FILTER_BITS
        present = np.zeros(max(1, 2 ** (p + int(FILTER_BITS)) // 64), dtype=np.uint64)
        np.bitwise_or.at(present, fine >> np.uint64(6), np.uint64(1) << (fine & np.uint64(63)))
        by_hash = np.lexsort((unique, hashes))
        rank = np.empty(unique.size, dtype=np.int64)
        rank[by_hash] = np.arange(unique.size)
        item_bucket = rank[item_key]
        sizes = np.bincount(item_bucket, minlength=unique.size)
        return cls(keys=unique[by_hash].astype(np.uint32 if key_bits <= 32 else np.uint64),
                   starts=compact_ints(np.concatenate([[0], np.cumsum(sizes)])),
                   ids=compact_ints(np.asarray(ids)[np.lexsort((ids, item_bucket))]),
                   directory=compact_ints(np.searchsorted(hashes[by_hash], np.arange(2**p + 1, dtype=np.uint64))),
                   present=present, shift=shift)

    @classmethod
    def _direct(cls, keys: np.ndarray, ids: np.ndarray, key_bits: int) -> BucketTable:
        empty = np.empty(0, dtype=np.int32)
        counts = np.bincount(keys.astype(np.int64), minlength=2**key_bits)
        return cls(keys=np.empty(0, dtype=np.uint32), starts=compact_ints(np.concatenate([[0], np.cumsum(counts)])),
                   ids=compact_ints(ids[np.lexsort((ids, keys))]), directory=empty,
                   present=np.empty(0, dtype=np.uint64), shift=np.uint64(0), direct=True)

    def keys_per_item(self) -> np.ndarray:
        keys = np.arange(self.n_buckets, dtype=np.uint64) if self.direct else self.keys.astype(np.uint64)
        return np.repeat(keys, np.diff(self.starts))

    @property
    def n_buckets(self) -> int:
        return int(self.starts.shape[0] - 1)

    def nbytes(self) -> int:
        return self.keys.nbytes + self.starts.nbytes + self.ids.nbytes + self.directory.nbytes + self.present.nbytes

    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        return {f"{prefix}keys": self.keys, f"{prefix}starts": self.starts, f"{prefix}ids": self.ids,
                f"{prefix}directory": self.directory, f"{prefix}present": self.present,
                f"{prefix}shift": np.array([self.shift], dtype=np.uint64),
                f"{prefix}direct": np.array([self.direct])}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str = "") -> BucketTable:
        return cls(keys=arrays[f"{prefix}keys"], starts=arrays[f"{prefix}starts"], ids=arrays[f"{prefix}ids"],
                   directory=arrays[f"{prefix}directory"], present=arrays[f"{prefix}present"],
                   shift=np.uint64(arrays[f"{prefix}shift"][0]), direct=bool(arrays[f"{prefix}direct"][0]))
