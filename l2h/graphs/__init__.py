"""Affinity graphs for GRH's graph step: a graph only has to multiply, never to form the dense n x n matrix."""

from l2h.graphs.base import AffinityGraph
from l2h.graphs.knn import KNNGraph
from l2h.graphs.label import LabelGraph
from l2h.graphs.multilabel import MultiLabelGraph

__all__ = ["AffinityGraph", "KNNGraph", "LabelGraph", "MultiLabelGraph"]
