"""Several independent tables over the same items, searched as one, for users who trade memory for recall as
LSH libraries do: each member indexes its own codes of the items (another model, another seed), a query
brings one code per member, an item is a result if it is within the radius in any member, and its distance
is the smallest over the members.

A UnionIndex is an index of the contract: ``add``, ``search``, ``range_search`` and ``probe`` take a list of
code arrays (one per member, all of the same length), or one ``(n, members, bytes)`` array (the codes of a
model of several tables, ``tables=L``: :func:`index_for_model` builds its index), and it saves to and loads from
one file like the others.
Its ``bits`` is the shortest member's code length (the largest radius every member accepts). The members share
one id map: they hold the same items at the same positions, and their answers are merged by position."""

from __future__ import annotations

import numpy as np
from numba import njit

from l2h.checks import MAX_BITS
from l2h.errors import L2HError
from l2h.index.base import BinaryIndex
from l2h.index.factory import KINDS, index_class


@njit(cache=True)
def _merge_queries(lims, D, I, k, d_bits, i_bits):
    """Per query, its entries of every member (rows of ``lims`` index ``D`` / ``I``) sorted by item then distance
    (one int64 key: the item above the distance's ``d_bits``), the first entry of each item kept (its smallest
    distance), those sorted by distance then item (the distance above the item's ``i_bits``), the first k kept
    (all where k < 0). One small sort per query: its own entries only."""
    d_mask, i_mask = (1 << d_bits) - 1, (1 << i_bits) - 1
    members, nq = lims.shape[0], lims.shape[1] - 1
    out_D, out_I = np.empty(D.size, dtype=np.int32), np.empty(D.size, dtype=np.int64)
    out_lims = np.zeros(nq + 1, dtype=np.int64)
    pos = 0
    for q in range(nq):
        size = 0
        for m in range(members):
            size += lims[m, q + 1] - lims[m, q]
        keys = np.empty(size, dtype=np.int64)
        c = 0
        for m in range(members):
            for j in range(lims[m, q], lims[m, q + 1]):
                keys[c] = (I[j] << d_bits) | D[j]
                c += 1
        keys.sort()
        unique, last = 0, -1
        for t in range(size):
            item = keys[t] >> d_bits
            if item != last:  # the item's first entry: its smallest distance; re-keyed by distance then item
                keys[unique] = ((keys[t] & d_mask) << i_bits) | item
                unique += 1
                last = item
        found = keys[:unique]
        found.sort()
        take = unique if k < 0 else min(k, unique)
        for t in range(take):
            out_D[pos] = found[t] >> i_bits
            out_I[pos] = found[t] & i_mask
            pos += 1
        out_lims[q + 1] = pos
    return out_lims, out_D[:pos], out_I[:pos]


def _merge(results: list[tuple[np.ndarray, np.ndarray, np.ndarray]], nq: int, k: int | None = None):
    """Union of per-member (lims, D, I) of ranks: one entry per (query, item) with its smallest distance, by
    distance then rank; the first k per query if k is given. Per query in compiled code: a sort of the whole
    batch's entries (numpy's lexsort of three keys) cost ten times the members' own searches."""
    starts = np.cumsum([0] + [len(d) for _, d, _ in results[:-1]])
    lims = np.stack([np.asarray(l, dtype=np.int64) + start for (l, _, _), start in zip(results, starts)])
    D = np.concatenate([np.asarray(d, dtype=np.int64) for _, d, _ in results])
    I = np.concatenate([np.asarray(i, dtype=np.int64) for _, _, i in results])
    # distances of at most 4096 bits (13 bits) and ranks below 2^40 fit one int64 key either way round
    d_bits, i_bits = (int(D.max()).bit_length(), int(I.max()).bit_length()) if D.size else (0, 0)
    return _merge_queries(lims, D, I, -1 if k is None else int(k), d_bits, i_bits)


class UnionIndex(BinaryIndex):
    kind = "union"
    ids_in_members = True

    def __init__(self, members: list[BinaryIndex]):
        members = list(members) if isinstance(members, (list, tuple)) else [members]
        if not members:
            raise L2HError("a UnionIndex needs at least one member index")
        for member in members:
            # an index of indexes (a union, shards) keeps its ids in its own members: it cannot share the union's
            if not isinstance(member, BinaryIndex) or member.ids_in_members:
                raise L2HError(f"UnionIndex members must be l2h indexes of one table (not unions or shards), got "
                               f"{type(member).__name__}")
        if len({m.ntotal for m in members}) > 1:
            raise L2HError(f"UnionIndex members must hold the same items, they hold {[m.ntotal for m in members]} "
                           "codes: start from empty members or ones filled with the same items")
        n = members[0].ntotal
        if n and any(not np.array_equal(m.id_map.row_ids(n), members[0].id_map.row_ids(n)) for m in members[1:]):
            raise L2HError("UnionIndex members hold different ids: fill them with the same items in the same order")
        super().__init__(min(m.bits for m in members))
        self.members = members
        for member in members:
            member.id_map = self.id_map = members[0].id_map

    @property
    def ntotal(self) -> int:
        return self.members[0].ntotal

    @property
    def tables(self) -> int:
        return len(self.members)

    def _check_batch(self, codes, what: str):
        if isinstance(codes, np.ndarray) and codes.ndim == 3:  # (n, tables, bytes): one code per table
            codes = [codes[:, t] for t in range(codes.shape[1])]
        if not isinstance(codes, (list, tuple)):
            raise L2HError(f"a UnionIndex takes a list of {what} arrays, one per member ({len(self.members)}), or an "
                           f"(n, {len(self.members)}, bytes) array")
        if len(codes) != len(self.members):
            raise L2HError(f"{len(codes)} {what} arrays for {len(self.members)} member indexes: give one per member")
        checked = [m._check_batch(c, what)[0] for m, c in zip(self.members, codes)]
        sizes = {c.shape[0] for c in checked}
        if len(sizes) > 1:
            raise L2HError(f"the members' {what} arrays have different numbers of rows ({[c.shape[0] for c in checked]}):"
                           " give each member the same items, in the same order")
        return checked, checked[0].shape[0]

    def _add(self, codes):
        for member, c in zip(self.members, codes):
            member._add(c)

    def _each(self, method, *args):
        """Call one checked-input method of every member and gather its stats."""
        out, probed, candidates = [], 0, 0
        for member, q in zip(self.members, args[0]):
            stats = np.zeros((q.shape[0], 2), dtype=np.int64)
            out.append(getattr(member, method)(q, *args[1:], stats))
            probed, candidates = probed + stats[:, 0], candidates + stats[:, 1]
        return out, probed, candidates

    def _range_search(self, queries, radius, stats):
        parts, stats[:, 0], stats[:, 1] = self._each("_range_search", queries, radius)
        return _merge(parts, queries[0].shape[0])

    def _search(self, queries, k, stats):
        """The k items nearest by smallest distance over members: each member's k nearest hold them all."""
        nq = queries[0].shape[0]
        results, stats[:, 0], stats[:, 1] = self._each("_search", queries, k)
        parts = [(np.arange(0, nq * k + 1, k, dtype=np.int64), D.reshape(-1), I.reshape(-1)) for D, I in results]
        lims, D, I = _merge(parts, nq, k)
        return D.reshape(nq, k), I.reshape(nq, k)

    def _codes(self):
        """Each member's codes, by position."""
        return [member._codes() for member in self.members]

    def items(self):
        """``(ids, [codes of each member])``, by id."""
        ids = None
        per_member = []
        for member in self.members:
            ids, codes = member.items()
            per_member.append(codes)
        return ids, per_member

    def codes(self):
        return self.items()[1]

    def reconstruct(self, ids):
        return [member.reconstruct(ids) for member in self.members]

    def _nbytes(self) -> int:
        return sum(m._nbytes() for m in self.members)

    def _state(self):
        meta, arrays = {"members": []}, {}
        for n, member in enumerate(self.members):
            member_meta, member_arrays = member._full_state()
            meta["members"].append(member_meta)
            arrays.update({f"m{n}_{name}": a for name, a in member_arrays.items()})
        return meta, arrays

    @classmethod
    def _from_state(cls, c):
        described = c.field("members")
        if not isinstance(described, list) or not 1 <= len(described) <= 1024:
            raise L2HError("its member list is not a list of 1 to 1024 indexes")
        members = []
        for n, member_meta in enumerate(described):
            sub = c.sub(member_meta, f"m{n}_")
            kind = sub.str("kind")
            if not KINDS.get(kind) or index_class(kind) is cls:
                raise L2HError(f"member {n} is of kind {kind!r}, which a union cannot hold")
            members.append(BinaryIndex._restore(sub))
        index = cls(members)
        if index.bits != c.int("bits", 1, MAX_BITS) or index.ntotal != c.int("ntotal", 0, 2**40):
            raise L2HError("its bits or ntotal disagree with its members")
        return index


def index_for_model(make_index, model) -> BinaryIndex:
    """The index of a model's codes: ``make_index(bits=...)``'s, or for a model of several hash tables
    (``tables=L``) a UnionIndex of one such index per table."""
    if model.tables == 1:
        return make_index(bits=model.bits)
    return UnionIndex([make_index(bits=model.bits) for _ in range(model.tables)])
