"""Binary indexes over packed codes, one contract (:class:`BinaryIndex`) in FAISS's shapes."""

from l2h.index.base import BinaryIndex
from l2h.index.flat import FlatIndex
from l2h.index.hash_index import HashIndex

__all__ = ["BinaryIndex", "FlatIndex", "HashIndex"]
