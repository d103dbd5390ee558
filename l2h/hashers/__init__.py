"""Hashers: training algorithms that learn hash functions (one family, one base class: :class:`Hasher`).
Each module holds one method; configs name them by path (``_target_: l2h.hashers.itq.ITQ``)."""

from l2h.hashers.base import Hasher

__all__ = ["Hasher"]
