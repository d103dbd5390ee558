"""Trained hash functions (encoders): one real score per bit, a bit is 1 where its score is >= 0."""

from l2h.encoders.base import Encoder
from l2h.encoders.fourier import KernelSVM, RandomFourier
from l2h.encoders.linear import Linear, LinearSVM
from l2h.encoders.mlp import MLP

__all__ = ["MLP", "Encoder", "KernelSVM", "Linear", "LinearSVM", "RandomFourier"]
