"""What an evaluation computes, as the ``eval`` config group states it, checked before any work starts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from l2h import checks
from l2h.errors import L2HError

RERANKERS = ("cosine", "hamming")
EMPTY_POLICIES = ("skip", "zero")
RELEVANCE = ("auto", "labels", "neighbours", "given")
METRICS = ("euclidean", "cosine")


def _choice(name: str, value, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise L2HError(f"eval.{name}={value!r} is not one of {', '.join(choices)}")
    return value


@dataclass
class EvalSettings:
    """``max_radius``: Hamming radii 0 .. max_radius of the hash-table sweep (inclusive balls); ``k``: precision@k
    of each ball's re-ranked candidates; ``rerank``: order candidates by the features' cosine (as the tutorial)
    or by Hamming distance; ``empty_policy``: a query with no candidate is left out of the mean (``skip``, as the
    tutorial) or scores 0 (``zero``); its share is reported either way. ``compute_map``: Hamming-ranking
    metrics over the whole database; ``ks``: precision / recall@k of that ranking; ``map_at``: the cut-offs R
    (a list, or one number) of mAP@R, written to metrics.json as ``map@R`` (a query with nothing relevant in its
    top R scores 0, the field's rule).
    ``relevance``: ``labels`` (same class / any shared label), ``neighbours`` (the ``neighbours_k`` true nearest
    items by ``neighbours_metric``), ``given`` (the data file's own ground truth), ``auto`` (labels when the data
    has them, else the file's ground truth, else true neighbours). ``device``: where the ranking metrics run
    (``auto``: the GPU when there is one, else the compiled CPU pass; ``cpu``; a torch device)."""

    max_radius: int = 4
    k: int = 10
    rerank: str = "cosine"
    empty_policy: str = "skip"
    compute_map: bool = True
    ks: list[int] = field(default_factory=lambda: [10, 100, 1000])
    map_at: list[int] | int = field(default_factory=lambda: [1000, 5000])
    save_codes: bool = False
    relevance: str = "auto"
    neighbours_k: int = 100
    neighbours_metric: str = "euclidean"
    device: str = "auto"

    def __post_init__(self):
        checks.integer("eval.max_radius", self.max_radius, 0)
        checks.integer("eval.k", self.k, 1)
        checks.integer("eval.neighbours_k", self.neighbours_k, 1)
        _choice("rerank", self.rerank, RERANKERS)
        _choice("empty_policy", self.empty_policy, EMPTY_POLICIES)
        _choice("relevance", self.relevance, RELEVANCE)
        _choice("neighbours_metric", self.neighbours_metric, METRICS)
        for name in ("compute_map", "save_codes"):
            if not isinstance(getattr(self, name), bool):
                raise L2HError(f"eval.{name} must be true or false, got {getattr(self, name)!r}")
        if isinstance(self.map_at, int) and not isinstance(self.map_at, bool):
            self.map_at = [self.map_at]  # one cut-off, as the field names its dataset's
        for name in ("ks", "map_at"):
            values = getattr(self, name)
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
                raise L2HError(f"eval.{name} must be a list of positive integers, got {values!r}")
            setattr(self, name, [checks.integer(f"eval.{name} entry", v, 1) for v in values])
        self.metrics_device()  # an impossible device is refused now, not after training

    def check_bits(self, bits: int) -> None:
        """Whether these settings can evaluate codes of ``bits`` bits: radii up to the code length."""
        if self.max_radius > checks.bits(bits):
            raise L2HError(f"eval.max_radius={self.max_radius} is larger than the code length ({bits} bits): "
                           f"use eval.max_radius<={bits}")

    def metrics_device(self) -> str | None:
        """None for the compiled CPU pass, else the torch device the ranking metrics run on."""
        if self.device == "cpu":
            return None
        import torch

        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else None
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError):
            raise L2HError(f"eval.device={self.device!r} is not a device: use auto, cpu or cuda") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise L2HError(f"eval.device={self.device} asks for a GPU but this machine has none: use eval.device=auto")
        return str(device)
