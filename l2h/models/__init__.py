"""Hashers (LSH, GRH and the tutorial's GRH), their partitioners and affinity graphs."""

from l2h.models.base import Hasher, HashModel
from l2h.models.graph import AffinityGraph, KNNGraph, LabelGraph, MultiLabelGraph
from l2h.models.grh import GRH
from l2h.models.lsh import LSH
from l2h.models.partitioners import MLP, KernelSVM, LinearSVM, Partitioner
from l2h.models.tutorial_grh import TutorialGRH

__all__ = ["GRH", "LSH", "MLP", "AffinityGraph", "HashModel", "Hasher", "KNNGraph", "KernelSVM", "LabelGraph",
           "LinearSVM", "MultiLabelGraph", "Partitioner", "TutorialGRH"]
