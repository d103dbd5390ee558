"""The commands' runs in this process: the config composed from the same YAML files as ``train.py``,
``evaluate.py``, ``index.py`` and ``search.py`` with the same overrides, then the library function the command
calls. Only the shell around them (one-line errors, exit codes) needs a subprocess, and has its own tests."""

from __future__ import annotations

from pathlib import Path

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
