"""Indexes by name, for configs: ``make("hash", bits=32)``, ``auto(bits=256)``.

Hydra configs instantiate these with ``_partial_: true`` and supply ``bits`` later, as a keyword::

    index:
      _target_: l2h.index.make
      _partial_: true
      kind: mih
      m: 8
"""

from __future__ import annotations

from l2h import codes as codes_mod
from l2h.errors import L2HError

# kind -> (class name in l2h.index, options it accepts)
KINDS = {
    "hash": ("HashIndex", ()),
    "mih": ("MultiIndexHash", ("m",)),
    "multi_index": ("MultiIndexHash", ("m",)),
    "flat": ("FlatIndex", ()),
    "torch": ("TorchFlatIndex", ("device",)),
    "torch_flat": ("TorchFlatIndex", ("device",)),
    "auto": (None, ("m",)),
}
HASH_MAX_BITS = 64


def _build(kind: str, bits: int, options: dict):
    import l2h.index as index_mod

    name, accepted = KINDS[kind]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise L2HError(f"index kind {kind!r} takes {', '.join(accepted) or 'no options'}, not "
                       f"{', '.join(unknown)}: remove {'them' if len(unknown) > 1 else 'it'} from the index config")
    return getattr(index_mod, name)(bits, **options)


def auto(bits: int, **options):
    """A HashIndex for codes of up to 64 bits, a MultiIndexHash above (``m`` applies to that one only)."""
    bits = codes_mod.check_bits(bits)
    if bits <= HASH_MAX_BITS:
        unknown = sorted(set(options) - {"m"})
        if unknown:
            raise L2HError(f"index kind 'auto' takes m (for codes over 64 bits), not {', '.join(unknown)}")
        return _build("hash", bits, {})
    return _build("mih", bits, options)


def make(kind: str, bits: int, **options):
    """The index of ``kind`` (hash, mih, flat, torch, auto) for ``bits``-bit codes."""
    if not isinstance(kind, str) or kind not in KINDS:
        raise L2HError(f"unknown index kind {kind!r}: choose one of {', '.join(KINDS)}")
    if kind == "auto":
        return auto(bits, **options)
    return _build(kind, codes_mod.check_bits(bits), options)
