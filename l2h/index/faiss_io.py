"""Interchange with FAISS's binary indexes: the same packed codes (uint8, least-significant bit first), so an
index moves across with its codes and ids and answers the same queries the same way (FAISS's range radius is
strict: l2h's radius r is its r + 1).

    faiss_index = to_faiss(l2h_index)                 # IndexBinaryFlat, in an IndexBinaryIDMap if ids are given
    faiss_index = to_faiss(l2h_index, kind="hash")    # IndexBinaryHash over the whole code (<= 64 bits)
    l2h_index = from_faiss(faiss_index, kind="auto")  # any kind of l2h.index.make

FAISS is an optional dependency (``pip install faiss-cpu``), imported when a function here is called. This
module never imports torch: FAISS and torch in one process have crashed on some platforms.

FAISS works on whole bytes: a code of ``bits`` bits goes across as ``8 * ceil(bits / 8)`` dimensions whose
spare high bits are 0, which changes no distance; give ``bits`` to ``from_faiss`` to come back to the exact
length."""

from __future__ import annotations

import numpy as np

from l2h import codes as codes_mod
from l2h.errors import L2HError
from l2h.index.base import BinaryIndex
from l2h.index.factory import make


def _faiss():
    try:
        import faiss
    except ImportError:
        raise L2HError("FAISS is not installed: pip install faiss-cpu (l2h's 'bench' extra)") from None
    return faiss


def to_faiss(index: BinaryIndex, kind: str = "flat"):
    """A FAISS binary index holding ``index``'s codes under the same ids.

    ``kind="flat"``: ``IndexBinaryFlat`` (exhaustive), wrapped in ``IndexBinaryIDMap`` when the ids are not the
    row numbers 0..n-1. ``kind="hash"``: ``IndexBinaryHash`` keyed on every bit of codes of up to 64 bits (ids
    stored natively); set its ``nflip`` to the radius you search (FAISS probes only that many flips)."""
    faiss = _faiss()
    if not isinstance(index, BinaryIndex):
        raise L2HError(f"to_faiss takes an l2h index, got {type(index).__name__}")
    if isinstance(index.codes(), list):
        raise L2HError("a UnionIndex has one code set per member: export each member with to_faiss")
    ids, codes = index.items()
    dims = 8 * codes.shape[1]
    if kind == "flat":
        inner = faiss.IndexBinaryFlat(dims)
        if np.array_equal(ids, np.arange(ids.size)):
            inner.add(codes)
            return inner
        wrapped = faiss.IndexBinaryIDMap(inner)
        wrapped.add_with_ids(codes, ids)
        wrapped.l2h_inner = inner  # the wrapper does not own the inner index: keep it alive with it
        return wrapped
    if kind == "hash":
        if index.bits > 64:
            raise L2HError(f"FAISS's IndexBinaryHash keys on at most 64 bits, these codes have {index.bits}: "
                           "export with kind='flat'")
        out = faiss.IndexBinaryHash(dims, index.bits)
        out.add_with_ids(codes, ids)
        return out
    raise L2HError(f"to_faiss kind must be 'flat' or 'hash', got {kind!r}")


def _stored_codes(faiss, index) -> np.ndarray:
    if isinstance(index, faiss.IndexBinaryFlat):
        return faiss.vector_to_array(index.xb).reshape(index.ntotal, index.code_size)
    if isinstance(index, faiss.IndexBinaryMultiHash):
        return _stored_codes(faiss, faiss.downcast_IndexBinary(index.storage))
    if isinstance(index, faiss.IndexBinaryHash):
        raise L2HError("FAISS cannot give back the codes of an IndexBinaryHash (it has no reconstruct): convert "
                       "from the codes themselves, or from an IndexBinaryFlat holding them")
    try:
        return index.reconstruct_n(0, index.ntotal).reshape(index.ntotal, index.code_size)
    except RuntimeError:
        raise L2HError(f"FAISS cannot give back the codes of a {type(index).__name__}: convert from an "
                       "IndexBinaryFlat, IndexBinaryMultiHash or IndexBinaryIDMap over one") from None


def from_faiss(faiss_index, kind: str = "auto", bits: int | None = None, **options) -> BinaryIndex:
    """An l2h index (``make(kind, bits, **options)``) holding the FAISS index's codes and ids.

    Reads ``IndexBinaryFlat``, ``IndexBinaryMultiHash`` and ``IndexBinaryIDMap``/``IDMap2`` over either (ids
    from the map; they must be non-negative). ``bits`` defaults to FAISS's dimension; a shorter length
    requires the spare high bits to be 0."""
    faiss = _faiss()
    if not isinstance(faiss_index, faiss.IndexBinary):
        raise L2HError(f"from_faiss takes a FAISS binary index, got {type(faiss_index).__name__}")
    index = faiss.downcast_IndexBinary(faiss_index)
    ids = None
    if isinstance(index, (faiss.IndexBinaryIDMap, faiss.IndexBinaryIDMap2)):
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        index = faiss.downcast_IndexBinary(index.index)
    codes = np.ascontiguousarray(_stored_codes(faiss, index), dtype=np.uint8)
    bits = index.d if bits is None else bits
    if codes_mod.check_bits(bits) > index.d or codes_mod.n_bytes(bits) != codes.shape[1]:
        raise L2HError(f"bits={bits} does not fit FAISS's {index.d} dimensions: give a length of "
                       f"{index.d - 7} to {index.d}")
    out = make(kind, bits, **options)
    out.add(codes_mod.check_codes(codes, bits, "the FAISS index's codes"), ids)
    return out
