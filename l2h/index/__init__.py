"""Binary indexes over packed codes, one contract (:class:`BinaryIndex`) in FAISS's shapes."""

from l2h.index.base import BinaryIndex, QueryStats
from l2h.index.flat import FlatIndex
from l2h.index.hash_index import HashIndex
from l2h.index.multi_index import MultiIndexHash
from l2h.index.union import UnionIndex

__all__ = ["BinaryIndex", "FlatIndex", "HashIndex", "MultiIndexHash", "QueryStats", "UnionIndex"]
