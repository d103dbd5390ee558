"""Several independent tables over the same items, searched as one, for users who trade memory for recall as
LSH libraries do: each member indexes its own codes of the items (another model, another seed), a query
brings one code per member, an item is a result if it is within the radius in any member, and its distance
is the smallest over the members."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from l2h.errors import L2HError
from l2h.index import storage
from l2h.index.base import BinaryIndex


def _merge(results: list[tuple[np.ndarray, np.ndarray, np.ndarray]], nq: int, k: int | None = None):
    """Union of per-member (lims, D, I): one entry per (query, id) with its smallest distance, by distance
    then id; the first k per query if k is given."""
    q = np.concatenate([np.repeat(np.arange(nq), np.diff(lims)) for lims, _, _ in results])
    D = np.concatenate([d for _, d, _ in results])
    I = np.concatenate([i for _, _, i in results])
    order = np.lexsort((D, I, q))
    q, D, I = q[order], D[order], I[order]
    first = np.ones(q.size, dtype=bool)
    first[1:] = (q[1:] != q[:-1]) | (I[1:] != I[:-1])
    q, D, I = q[first], D[first], I[first]
    order = np.lexsort((I, D, q))
    q, D, I = q[order], D[order], I[order]
    if k is not None:
        rank = np.arange(q.size) - np.searchsorted(q, q)
        keep = rank < k
        q, D, I = q[keep], D[keep], I[keep]
    lims = np.concatenate([[0], np.cumsum(np.bincount(q, minlength=nq))]).astype(np.int64)
    return lims, D.astype(np.int32), I.astype(np.int64)


class UnionIndex:
    def __init__(self, members: list[BinaryIndex]):
        if not members:
            raise L2HError("a UnionIndex needs at least one member index")
        self.members = list(members)

    @property
    def ntotal(self) -> int:
        return self.members[0].ntotal

    def _per_member(self, codes: list[np.ndarray]) -> list[np.ndarray]:
        if len(codes) != len(self.members):
            raise L2HError(f"{len(codes)} code arrays for {len(self.members)} member indexes: give one per member")
        return codes

    def add(self, codes: list[np.ndarray], ids: np.ndarray | None = None) -> None:
        for member, c in zip(self.members, self._per_member(codes)):
            member.add(c, ids)

    def range_search(self, queries: list[np.ndarray], radius: int):
        parts = [m.range_search(q, radius) for m, q in zip(self.members, self._per_member(queries))]
        return _merge(parts, queries[0].shape[0])

    def search(self, queries: list[np.ndarray], k: int):
        """The k items nearest by smallest distance over members: -1 where fewer exist."""
        nq = queries[0].shape[0]
        parts = []
        for m, q in zip(self.members, self._per_member(queries)):
            D, I = m.search(q, k)
            valid = I >= 0
            parts.append((np.concatenate([[0], np.cumsum(valid.sum(1))]), D[valid], I[valid]))
        lims, D, I = _merge(parts, nq, k)
        out_D, out_I = np.full((nq, k), -1, dtype=np.int32), np.full((nq, k), -1, dtype=np.int64)
        for row in range(nq):
            n = lims[row + 1] - lims[row]
            out_D[row, :n], out_I[row, :n] = D[lims[row]:lims[row + 1]], I[lims[row]:lims[row + 1]]
        return out_D, out_I

    def save(self, path: str | Path) -> None:
        meta, arrays = {"kind": "union", "members": []}, {}
        for n, member in enumerate(self.members):
            member_meta, member_arrays = member._state()
            meta["members"].append({"kind": member.kind, "bits": member.bits, **member_meta})
            arrays.update({f"m{n}_{name}": a for name, a in member_arrays.items()})
        storage.write(path, meta, arrays)

    @classmethod
    def load(cls, path: str | Path, mmap: bool = True) -> UnionIndex:
        meta, arrays = storage.read(path, mmap=mmap)
        if meta.get("kind") != "union":
            raise L2HError(f"{path} holds a {meta.get('kind')!r} index, not a union of indexes")
        members = []
        for n, member_meta in enumerate(meta["members"]):
            prefix = f"m{n}_"
            mine = {name[len(prefix):]: a for name, a in arrays.items() if name.startswith(prefix)}
            members.append(BinaryIndex.registry[member_meta["kind"]]._from_state(member_meta, mine))
        return cls(members)
