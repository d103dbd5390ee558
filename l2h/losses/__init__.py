"""Hashing losses: what trains an encoder's scores (one family, one base class: :class:`HashLoss`)."""

from l2h.losses.base import HashLoss
from l2h.losses.hinge import Hinge

__all__ = ["HashLoss", "Hinge"]
