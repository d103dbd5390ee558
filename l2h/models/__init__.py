"""The names of l2h's first releases, kept for users' scripts and configs (``_target_: l2h.models.GRH``).
New code imports from the families: :mod:`l2h.hashers`, :mod:`l2h.encoders`, :mod:`l2h.graphs`."""

from l2h.encoders import MLP, Encoder, KernelSVM, LinearSVM
from l2h.graphs import AffinityGraph, KNNGraph, LabelGraph, MultiLabelGraph
from l2h.hashers.base import Hasher
from l2h.hashers.grh import GRH
from l2h.hashers.lsh import LSH
from l2h.hashers.tutorial_grh import TutorialGRH
from l2h.model import HashModel

Partitioner = Encoder  # GRH's word for its hash functions

__all__ = ["GRH", "LSH", "MLP", "AffinityGraph", "HashModel", "Hasher", "KNNGraph", "KernelSVM", "LabelGraph",
           "LinearSVM", "MultiLabelGraph", "Partitioner", "TutorialGRH"]
