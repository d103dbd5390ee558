"""The commands' runs in this process: the config composed from the same YAML files as ``train.py``,
``evaluate.py``, ``index.py`` and ``search.py`` with the same overrides, then the library function the command
calls; or the command's own entry point, Hydra's sweeps included (``command_line``, ``sweep``). Only the exit
status of a process needs a subprocess: one test per command, for a user's mistake."""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from unittest import mock

from hydra import compose, initialize_config_module

from l2h import pipeline, search_runs
from l2h.cli import top_level_keys

# small and quick: the CPU, no progress bars, a small split of the embedded digits
FAST = ("trainer=cpu", "trainer.enable_progress_bar=false", "protocol.n_query=60", "protocol.n_train=300")


def config(name: str, overrides=()):
    """The composed config of a command (``train``, ``evaluate``, ``indexing``, ``search``)."""
    with initialize_config_module("l2h.conf", version_base="1.3"):
        return compose(name, overrides=list(overrides))


def train(out: Path, *overrides: str) -> dict:
    return pipeline.train(config("train", overrides), Path(out), top_level_keys(overrides))


def evaluate(out: Path, *overrides: str) -> dict:
    return pipeline.evaluate(config("evaluate", overrides), Path(out), top_level_keys(overrides))


def index(out: Path, *overrides: str) -> dict:
    return search_runs.build_index(config("indexing", ("progress=false", *overrides)), Path(out),
                                   top_level_keys(overrides))


def search(out: Path, *overrides: str) -> dict:
    return search_runs.search(config("search", ("progress=false", *overrides)), Path(out), top_level_keys(overrides))


def extract(out: Path, *overrides: str) -> dict:
    from l2h import extraction

    return extraction.extract(config("extract", ("progress=false", *overrides)), Path(out), top_level_keys(overrides))


def command_line(command: str, *args: str) -> None:
    """``l2h-<command> args`` through the command's own entry point (Hydra's parser, sweeper, launcher and callbacks)
    in this process: a user's mistake ends in SystemExit(2) with its line on stderr. Hydra leaves logging alone
    here, so that no handler outlives the test."""
    main = importlib.import_module(f"l2h.cli.{command}").main
    argv = [command, *args, "hydra/job_logging=none", "hydra/hydra_logging=none"]
    with mock.patch.object(sys, "argv", argv), mock.patch.dict(os.environ, {"HYDRA_FULL_ERROR": "1"}):
        main()


def sweep(command: str, folder: Path, *overrides: str) -> dict[str, dict]:
    """``command -m overrides`` (a Hydra multirun) in this process; each job's metrics.json by its subfolder."""
    command_line(command, "-m", *overrides, f"hydra.sweep.dir={folder}")
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(Path(folder).glob("*/metrics.json"))}
