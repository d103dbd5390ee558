"""Shared shell of the entry points: a user's mistake prints one line and exits 2, with no traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from l2h.errors import L2HError
from l2h.eval.report import table


def run(job: Callable[[DictConfig, Path], dict], cfg: DictConfig) -> float:
    """Run ``job`` in the Hydra output folder, print its table, and return what sweepers optimise: the validation
    mAP when the protocol carves a validation split, else the test mAP."""
    output_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        metrics = job(cfg, output_dir)
    except (L2HError, OmegaConfBaseException) as exc:
        print(f"error: {exc}".splitlines()[0], file=sys.stderr)
        sys.exit(2)
    print(table(metrics))
    print(f"outputs: {output_dir}")
    return metrics["validation_map"] if metrics.get("validation_map") is not None else metrics["map"]
