"""Index kinds by name: the one table of them (``KINDS``), and the builders configs call, ``make("hash",
bits=32)``, ``auto(bits=256)``.

Hydra configs instantiate these (or a class) with ``_partial_: true`` and supply ``bits`` later, as a keyword::

    index:
      _target_: l2h.index.make
      _partial_: true
      kind: mih
      m: 8
"""

from __future__ import annotations

import inspect

from l2h import codes as codes_mod
from l2h.errors import L2HError

# Every name of an index kind -> its class in l2h.index. A class's own ``kind`` is the name its saved files record
# (multi_index, torch_flat); configs and make() also take the short names. "auto" is the rule of auto().
KINDS = {
    "auto": None,
    "hash": "HashIndex",
    "mih": "MultiIndexHash",
    "multi_index": "MultiIndexHash",
    "flat": "FlatIndex",
    "torch": "TorchFlatIndex",
    "torch_flat": "TorchFlatIndex",
    "union": "UnionIndex",
    "sharded": "ShardedIndex",
}
HASH_MAX_BITS = 64


def index_class(kind: str):
    """The class a kind name stands for (any name of ``KINDS`` but auto)."""
    import l2h.index as index_mod

    if not isinstance(kind, str) or not KINDS.get(kind):
        raise L2HError(f"unknown index kind {kind!r}: choose one of {', '.join(KINDS)}")
    return getattr(index_mod, KINDS[kind])


def _build(kind: str, bits: int, options: dict):
    cls = index_class(kind)
    params = list(inspect.signature(cls).parameters)
    if params[:1] != ["bits"]:
        raise L2HError(f"a {cls.__name__} is built from other indexes, not by make(): call l2h.index.{cls.__name__}")
    accepted = params[1:]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise L2HError(f"index kind {kind!r} takes {', '.join(accepted) or 'no options'}, not "
                       f"{', '.join(unknown)}: remove {'them' if len(unknown) > 1 else 'it'} from the index config")
    return cls(bits, **options)


def auto(bits: int, **options):
    """A HashIndex for codes of up to 64 bits, a MultiIndexHash above (``m`` applies to that one only).

    Both pick, for each batch and each query, by the work asked (k-NN or radius), the code length and the database
    size, between probing their tables and scanning their own codes (:mod:`l2h.index.costs`): a range search of a
    small radius probes, a k-NN whose neighbours are far scans, so no search costs much more than a FlatIndex's.
    Each search says what it did and why in the index's ``last_plan`` (``index_plan`` in metrics.json, ``plan``
    in search.py's summary). A FlatIndex needs no tables; choose it (``index=flat``) for k-NN only."""
    bits = codes_mod.check_bits(bits)
    if bits <= HASH_MAX_BITS:
        unknown = sorted(set(options) - {"m"})
        if unknown:
            raise L2HError(f"index kind 'auto' takes m (for codes over 64 bits), not {', '.join(unknown)}")
        return _build("hash", bits, {})
    return _build("mih", bits, options)


def make(kind: str, bits: int, **options):
    """The index of ``kind`` (a name of ``KINDS``: hash, mih, flat, torch, auto, ...) for ``bits``-bit codes."""
    if kind == "auto":
        return auto(bits, **options)
    index_class(kind)  # an unknown kind is named before the bits are checked
    return _build(kind, codes_mod.check_bits(bits), options)
