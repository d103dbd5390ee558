"""The commands (``l2h-train``, ``l2h-evaluate``, ``l2h-index``, ``l2h-search``, ``l2h-summary``) and the shell
they share: a user's mistake prints one line and exits 2, Ctrl-C exits 130, never a traceback."""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Callable
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from l2h.errors import L2HError

# Idle OpenMP threads (torch's, numba's) sleep instead of spinning: on a machine shared with other jobs, spinning
# threads took the cores the working ones waited for, and the digits default trained 2 to 7 times slower
# (benchmarks/training_cost.py). Read when torch loads OpenMP, so set before; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

CONFIG_PATH = "pkg://l2h.conf"
# run folders that were there before the command began (the user's own): a failed command never removes them
FOLDERS_BEFORE: set[Path] = set()


def fail(message: str, code: int = 2):
    print(f"error: {message}".splitlines()[0], file=sys.stderr)
    sys.exit(code)


class CheckOutputFolder(Callback):
    """A Hydra callback: the run (or sweep) folder must be writable before Hydra creates it, so that a path through
    a file or an unwritable place is one line, not Hydra's traceback."""

    def _check(self, folder) -> None:
        from l2h.atomic import ensure_folder

        try:
            ensure_folder(Path(str(folder)))
        except L2HError as exc:
            fail(f"{exc} (set hydra.run.dir or hydra.sweep.dir)")

    def on_run_start(self, config, **kwargs) -> None:
        if Path(str(config.hydra.run.dir)).is_dir():
            FOLDERS_BEFORE.add(Path(str(config.hydra.run.dir)).resolve())
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


def check_added_keys(config_name: str, overrides, groups) -> None:
    """Refuse ``+key=value`` that adds a top-level key the command's config does not know: nothing reads it, so
    a misspelling (``+bit=64``) would run silently with the default. Adding inside a node (``+data.x=...``),
    Hydra's own settings and config groups (``groups``: the run's chosen groups, a user's own included) stay."""
    from importlib.resources import files

    from omegaconf import OmegaConf

    own = OmegaConf.load(files("l2h.conf") / f"{config_name}.yaml")
    known = sorted({*own.keys(), *(group.split("/")[0] for group in groups)} - {"defaults"})
    for override in overrides:
        key, _, value = override.partition("=")
        if not key.startswith("+") or key.lstrip("+") in known or any(c in key for c in "./@"):
            continue
        key = key.lstrip("+")
        nearest = difflib.get_close_matches(key, known, n=1)
        fix = f"did you mean {nearest[0]}={value}?" if nearest else f"its settings are {', '.join(known)}"
        raise L2HError(f"{override}: the {config_name} config has no setting {key!r}, so nothing would read it: "
                       f"{fix}")


def remove_unused_run_folder(folder: Path, job_name: str) -> bool:
    """A command that fails leaves the run folder Hydra made before the job started. Remove it when this command
    made it and it holds nothing but Hydra's own files (``.hydra/*.yaml`` and an empty ``<job>.log``): they are
    deleted by name and the folders only if then empty, so nothing else can go. Returns whether it is gone."""
    if folder.resolve() in FOLDERS_BEFORE:
        return False
    own = {folder / ".hydra" / name for name in ("config.yaml", "hydra.yaml", "overrides.yaml")}
    log = folder / f"{job_name}.log"
    if log.is_file() and log.stat().st_size == 0:
        own.add(log)
    if not folder.is_dir() or any(p not in own | {folder / ".hydra"} for p in folder.rglob("*")):
        return False
    for path in own:
        path.unlink(missing_ok=True)
    try:
        (folder / ".hydra").rmdir()
        folder.rmdir()
    except OSError:  # something appeared meanwhile: leave it
        return False
    return True


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

    hydra = HydraConfig.get()
    output_dir = Path(hydra.runtime.output_dir)
    try:
        check_added_keys(hydra.job.config_name, hydra.overrides.task, hydra.runtime.choices)
        pipeline.validate_sweep(cfg, optimising_sweeper())
        metrics = job(cfg, output_dir, **kwargs)
    except (L2HError, OmegaConfBaseException) as exc:
        remove_unused_run_folder(output_dir, hydra.job.name)
        fail(str(exc))
    except KeyboardInterrupt:
        remove_unused_run_folder(output_dir, hydra.job.name)
        fail("interrupted: nothing of this run was written", code=130)
    except Exception as exc:
        from l2h.training.trainer import OtherRank

        if isinstance(exc, OtherRank):  # a data-parallel helper process: the first process reports
            return None
        raise
    print((table or run_table)(metrics))
    print(f"outputs: {output_dir}")
    try:
        return pipeline.objective(cfg, metrics)
    except L2HError as exc:
        fail(str(exc))
