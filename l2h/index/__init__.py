"""Binary indexes over packed codes, one contract (:class:`BinaryIndex`) in FAISS's shapes.

``auto(bits)`` / ``make(kind, bits)`` build one from a name of ``KINDS``, the one table of index kind names (Hydra
configs call them, or a class, with ``_partial_: true``);
batch searches use every core unless ``set_num_threads`` says otherwise. ``TorchFlatIndex`` (a torch device)
imports torch only when one is built; ``l2h.index.faiss_io`` converts to and from FAISS, which it imports only
when called. ``ShardedIndex`` searches many index files as one (:mod:`l2h.distributed`: on a Dask cluster)."""

from l2h.index.base import BinaryIndex, QueryStats
from l2h.index.factory import KINDS, auto, make
from l2h.index.flat import FlatIndex
from l2h.index.hash_index import HashIndex
from l2h.index.multi_index import MultiIndexHash
from l2h.index.parallel import get_num_threads, set_num_threads
from l2h.index.sharded import ShardedIndex
from l2h.index.torch_flat import TorchFlatIndex
from l2h.index.union import UnionIndex

__all__ = ["KINDS", "BinaryIndex", "FlatIndex", "HashIndex", "MultiIndexHash", "QueryStats", "ShardedIndex", "TorchFlatIndex",
           "UnionIndex", "auto", "get_num_threads", "make", "set_num_threads"]
