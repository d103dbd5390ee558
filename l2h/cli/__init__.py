"""The commands (``l2h-train``, ``l2h-evaluate``, ``l2h-index``, ``l2h-search``, ``l2h-summary``) and the shell
they share: a user's mistake prints one line and exits 2, Ctrl-C exits 130, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from l2h.errors import L2HError

CONFIG_PATH = "pkg://l2h.conf"


def fail(message: str, code: int = 2):
    print(f"error: {message}".splitlines()[0], file=sys.stderr)
    sys.exit(code)


class CheckOutputFolder(Callback):
    """A Hydra callback: the run (or sweep) folder must be writable before Hydra creates it, so that a path through
    a file or an unwritable place is one line, not Hydra's traceback."""

    def _check(self, folder) -> None:
        from l2h.io import ensure_folder

        try:
            ensure_folder(Path(str(folder)))
        except L2HError as exc:
            fail(f"{exc} (set hydra.run.dir or hydra.sweep.dir)")

    def on_run_start(self, config, **kwargs) -> None:
        self._check(config.hydra.run.dir)

    def on_multirun_start(self, config, **kwargs) -> None:
        self._check(config.hydra.sweep.dir)


def overridden_groups() -> set[str]:
    """The top-level config keys the user set on the command line (``data.path=x`` sets ``data``)."""
    from hydra.core.hydra_config import HydraConfig

    return top_level_keys(HydraConfig.get().overrides.task)


def top_level_keys(overrides) -> set[str]:
    """The top-level config keys a list of Hydra overrides sets."""
    keys = set()
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        keys.add(key.split("/")[0].split(".")[0].split("@")[0])
    return keys


def optimising_sweeper() -> bool:
    """Whether this job belongs to a sweep whose sweeper uses the returned value (Optuna, ...)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra = HydraConfig.get()
    target = str(hydra.sweeper.get("_target_", ""))
    return hydra.mode == RunMode.MULTIRUN and not target.endswith("BasicSweeper")


def run(job: Callable[..., dict], cfg: DictConfig, table: Callable[[dict], str] | None = None,
        **kwargs) -> float | None:
    """Run ``job(cfg, output_dir, ...)`` in the Hydra output folder, print its table, and return what sweepers
    optimise (``optimized_metric``, by default the validation mAP)."""
    from hydra.core.hydra_config import HydraConfig

    from l2h import pipeline
    from l2h.report.run import table as run_table

    output_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        pipeline.validate_sweep(cfg, optimising_sweeper())
        metrics = job(cfg, output_dir, **kwargs)
    except (L2HError, OmegaConfBaseException) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted: nothing of this run was written", code=130)
    except Exception as exc:
        from l2h.training.trainer import OtherRank

        if isinstance(exc, OtherRank):  # a data-parallel helper process: the first process reports
            return None
        raise
    print((table or run_table)(metrics))
    print(f"outputs: {output_dir}")
    return pipeline.objective(cfg, metrics)
