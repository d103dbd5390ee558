"""Exhaustive Hamming search on a torch device (the GPU when there is one): the same contract and exactly the
same results as :class:`FlatIndex`, ties by id included.

Codes stay packed on the device. A search unpacks blocks of them to ±1 and takes the Hamming distance from a
matrix product, ``d = (B - q · x) / 2`` over the B = 8 * bytes positions (the clear padding bits agree and add
nothing). Every product term is ±1, so every partial sum is an integer no larger in magnitude than the number of
positions summed. On a GPU the ±1 are float16, for its tensor cores: float16 holds every integer up to 2048
exactly, so the product is taken over at most :data:`HALF_POSITIONS` = 2048 positions at a time (whatever order
and precision the GPU sums in, no partial sum can round) and the pieces added in float32 (exact to 2^24). On the
CPU, float32 throughout (exact to 2^24 positions). k-NN keeps, per query, the k smallest keys
``distance * n + rank`` (rank: the item's place in id order, from the index's id map), which orders by distance
then id with no ties left. The host waits for the device once per block of a range search (the number of
results sizes its output) and once at the end of a k-NN search.

torch is imported when an index is built, never by ``import l2h.index``: FAISS and torch in one process have
crashed on some platforms, so code that uses FAISS never needs to load torch."""

from __future__ import annotations

import numpy as np

from l2h import codes as codes_mod
from l2h.checks import MAX_BITS
from l2h.devices import resolve_device
from l2h.errors import L2HError
from l2h.index.base import BinaryIndex, empty_range

MAX_ROWS = 2**40
BLOCK_ELEMENTS = 2**24  # floats per block of distances or unpacked codes (64 MiB)
HALF_POSITIONS = 2048   # code positions per float16 product: float16 holds every integer up to 2048 exactly


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency of l2h
        raise L2HError("TorchFlatIndex needs PyTorch: install it (scripts/install_torch.sh)") from None
    return torch


def _tensor(array: np.ndarray, device):
    """A numpy array on the device (copied: torch refuses to share read-only memory)."""
    return _torch().from_numpy(np.array(array, copy=True)).to(device)


def _torch_dtype(dtype):
    torch = _torch()
    return {np.dtype(np.uint8): torch.uint8, np.dtype(np.int64): torch.int64}[np.dtype(dtype)]


def product_dtype(device):
    """The dtype of the ±1 matrix products: float16 on a GPU (tensor cores), float32 elsewhere."""
    torch = _torch()
    return torch.float16 if device.type == "cuda" else torch.float32


class TorchFlatIndex(BinaryIndex):
    kind = "torch_flat"

    def __init__(self, bits: int, device="auto"):
        super().__init__(codes_mod.check_bits(bits))
        torch = _torch()
        self.device = resolve_device(device)
        self.code_bytes = codes_mod.n_bytes(self.bits)
        self._packed = torch.empty((0, self.code_bytes), dtype=torch.uint8, device=self.device)
        self._n = 0
        self._rank = None  # each row's rank on the device, cached until the next add
        self._shifts = torch.arange(8, dtype=torch.uint8, device=self.device)

    @property
    def ntotal(self) -> int:
        return self._n

    def to(self, device) -> TorchFlatIndex:
        """Move the index to another device (in place); returns it."""
        self.device = resolve_device(device)
        self._packed = self._packed[:self._n].to(self.device)
        self._rank = None
        self._shifts = self._shifts.to(self.device)
        return self

    def _write_rows(self, buffer, rows: np.ndarray):
        """``buffer`` (a device tensor with spare rows, or None) with ``rows`` written after its first n rows,
        doubling its capacity when full. On the CPU the copies go through numpy views of the same memory: torch
        spreads even a small copy over its thread pool, which on a busy machine waits milliseconds for a core."""
        torch = _torch()
        need = self._n + rows.shape[0]
        on_cpu = self.device.type == "cpu"
        if buffer is None or need > buffer.shape[0]:
            capacity = max(need, 2 * (0 if buffer is None else buffer.shape[0]))
            grown = torch.empty((capacity,) + tuple(rows.shape[1:]), dtype=_torch_dtype(rows.dtype), device=self.device)
            if buffer is not None and self._n:
                if on_cpu:
                    grown.numpy()[:self._n] = buffer.numpy()[:self._n]
                else:
                    grown[:self._n] = buffer[:self._n]
            buffer = grown
        if on_cpu:
            buffer.numpy()[self._n:need] = rows
        else:
            buffer[self._n:need] = _tensor(rows, self.device)
        return buffer

    def _add(self, codes):
        n = codes.shape[0]
        if self._n + n > MAX_ROWS:
            raise L2HError(f"a TorchFlatIndex holds at most {MAX_ROWS} codes: split the database")
        self._packed = self._write_rows(self._packed, codes)
        self._n += n
        self._rank = None

    # ------------------------------------------------------------------ distances

    def _signs(self, packed):
        """(rows, bytes) uint8 on the device -> (rows, 8 * bytes) ±1 in :func:`product_dtype`."""
        bits = (packed.unsqueeze(-1) >> self._shifts) & 1
        return bits.reshape(packed.shape[0], -1).to(product_dtype(self.device)) * 2 - 1

    def _dot(self, qs, xs):
        """``qs @ xs.T`` exactly, as float32: in pieces of at most HALF_POSITIONS positions when in float16."""
        torch = _torch()
        if qs.dtype != torch.float16 or qs.shape[1] <= HALF_POSITIONS:
            return (qs @ xs.T).float()
        return sum((qs[:, i:i + HALF_POSITIONS] @ xs[:, i:i + HALF_POSITIONS].T).float()
                   for i in range(0, qs.shape[1], HALF_POSITIONS))

    def _blocks(self, nq: int):
        width = 8 * self.code_bytes
        q_block = max(1, min(nq, BLOCK_ELEMENTS // max(width, 1), 8192))
        db_block = max(1, min(self._n, BLOCK_ELEMENTS // max(q_block, width)))
        return q_block, db_block

    def _distance_blocks(self, queries):
        """Yield (q0, q1, r0, r1, distances int64 (q1 - q0, r1 - r0)) over every block pair."""
        torch = _torch()
        q = _tensor(queries, self.device)
        width = 8 * self.code_bytes
        q_block, db_block = self._blocks(q.shape[0])
        for q0 in range(0, q.shape[0], q_block):
            qs = self._signs(q[q0:q0 + q_block])
            for r0 in range(0, self._n, db_block):
                xs = self._signs(self._packed[r0:min(r0 + db_block, self._n)])
                dot = self._dot(qs, xs)
                yield q0, q0 + qs.shape[0], r0, r0 + xs.shape[0], torch.round((width - dot) * 0.5).to(torch.int64)

    def _ranks(self):
        """Each row's rank (its place in id order) on the device."""
        torch = _torch()
        if self._rank is None:
            rank = self.id_map.ranks()
            self._rank = _tensor(rank, self.device) if rank.size else \
                torch.arange(self._n, dtype=torch.int64, device=self.device)
        return self._rank

    # ------------------------------------------------------------------ the contract

    def _search(self, queries, k, stats):
        torch = _torch()
        n = self._n
        rank = self._ranks()
        best = {}
        for q0, q1, r0, r1, dist in self._distance_blocks(queries):
            keys = dist * n + rank[r0:r1].unsqueeze(0)
            if q0 in best:
                keys = torch.cat([best[q0], keys], dim=1)
            best[q0] = torch.topk(keys, min(k, keys.shape[1]), dim=1, largest=False, sorted=True).values
        keys = torch.cat([best[q0] for q0 in sorted(best)]) if best else torch.empty((0, k), dtype=torch.int64)
        stats[:, 1] = n
        return (keys // n).to(torch.int32).cpu().numpy(), (keys % n).cpu().numpy()

    def _probe(self, queries, r_lo, r_hi, stats):
        torch = _torch()
        nq = queries.shape[0]
        rank = self._ranks()
        found = []  # per block, on the device: rows of (query, distance, rank) of the items in [r_lo, r_hi]
        for q0, _, r0, _, dist in self._distance_blocks(queries):
            qi, ri = torch.nonzero((dist >= r_lo) & (dist <= r_hi), as_tuple=True)  # the block's one wait
            found.append(torch.stack([qi + q0, dist[qi, ri], rank[ri + r0]]))
        stats[:, 1] = self._n
        if not found:
            return empty_range(nq)
        owner, D, I = torch.cat(found, dim=1).cpu().numpy()
        D = D.astype(np.int32)
        order = np.lexsort((I, D, owner))
        lims = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=nq))]).astype(np.int64)
        return lims, D[order], I[order].astype(np.int64)

    def _range_search(self, queries, radius, stats):
        return self._probe(queries, 0, radius, stats)

    def _codes(self):
        return self._packed[:self._n].cpu().numpy().copy()

    def _nbytes(self) -> int:
        size = self._packed.numel() * self._packed.element_size()
        return size + (0 if self._rank is None else self._rank.numel() * 8)

    def _state(self):
        return {}, {"codes": self._codes()}

    @classmethod
    def _from_state(cls, c):
        index = cls(c.int("bits", 1, MAX_BITS))
        n = c.int("ntotal", 0, MAX_ROWS)
        index._add(codes_mod.check_codes(c.array("codes", np.uint8, (n, index.code_bytes)), index.bits, "stored codes"))
        return index
