"""Hashing losses: what trains an encoder's scores (one family, one base class: :class:`HashLoss`).

Code losses (``fits = "codes"``) fit target bits: :class:`Hinge` (GRH). Label losses (``fits = "labels"``) are the
deep supervised hashing objectives, trained by :class:`l2h.hashers.deep.DeepHasher`: :class:`DPSH`,
:class:`HashNet`, :class:`DSH` (pairwise), :class:`CSQ` (hash centres), :class:`GreedyHash` (sign with a
straight-through gradient), :class:`OrthoHash` (cosine to orthogonal codewords).

What several losses share lives in its own modules, never in a method's file: :mod:`l2h.losses.helpers` (the pairs
of a batch, which of them are similar, the soft cross-entropy, the check of a weight) and
:mod:`l2h.losses.codebooks` (fixed class codes: Hadamard rows, fair coins, CSQ's hash centres). The sign is
:func:`l2h.codes.signs`."""

from l2h.losses.base import HashLoss
from l2h.losses.csq import CSQ
from l2h.losses.dpsh import DPSH
from l2h.losses.dsh import DSH
from l2h.losses.greedyhash import GreedyHash
from l2h.losses.hashnet import HashNet
from l2h.losses.hinge import Hinge
from l2h.losses.orthohash import OrthoHash

__all__ = ["CSQ", "DPSH", "DSH", "GreedyHash", "HashLoss", "HashNet", "Hinge", "OrthoHash"]
