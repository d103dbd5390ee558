"""Every command the README's ```bash blocks and the commands' ``--help`` footers show on the embedded data runs
as written: read from those texts, run in this process through ``tests/commands.py`` (the same config
composition and library functions as the commands), placeholders (``<time>``, ``CKPT``, ``FILE``,
``outputs/.../model.ckpt``) filled from an earlier command's outputs; the query files the search examples name
are written here from the digits. A command that reads a data file the user brings (``data.path=``,
``ids_path=``, their own configs) or another machine's resources is named with the reason it is not run here, so
a new README command cannot go untested unnoticed."""

from __future__ import annotations

import math
import os
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from l2h.cli import summary as summary_command
from l2h.data import DataSource
from tests import commands

ROOT = Path(__file__).resolve().parents[1]
HELP_CONFIGS = ("train", "evaluate", "indexing", "search")
SCRIPTS = {"train.py": commands.train, "evaluate.py": commands.evaluate, "index.py": commands.index,
           "search.py": commands.search, "extract.py": commands.extract}
# grh_mlp trains 150 optimiser steps (a minute on two cores): its single runs here take 10, nothing else changes
SHORTEN = {"grh_mlp": ("model.steps=10",)}
# query files the search examples name, written from the embedded digits (their rows plus an offset)
QUERY_FILES = ("queries.npy", "queries.fvecs", "sift_query.fvecs")


def _strip_comment(line: str) -> str:
    return re.sub(r"\s+#.*$", "", line).strip()


def readme_commands() -> list[tuple[str, str]]:
    """(where, command) for every command line of README.md's ```bash blocks, continuations joined."""
    text = (ROOT / "README.md").read_text()
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if _strip_comment(line):
                found.append(("README.md", " ".join(_strip_comment(line).split())))
    return found


def help_commands() -> list[tuple[str, str]]:
    """(where, command) for every example of the commands' --help footers."""
    found = []
    for name in HELP_CONFIGS:
        footer = OmegaConf.load(ROOT / "l2h" / "conf" / f"{name}.yaml").hydra.help.footer
        found += [(f"{name}.yaml --help", " ".join(_strip_comment(line).split())) for line in footer.splitlines()
                  if line.strip().startswith("python ")]
    return found


def not_run_because(command: str) -> str | None:
    """Why a command is not run here (files the user brings, other machines), or None: it is run."""
    if command == "make test":
        return "runs this test suite"
    if re.search(r"\bdata\.(path|root|labels_path|queries_path)=|\bids_path=", command):
        return "reads a data file the user brings"
    if "hydra.searchpath" in command or "median" in command:
        return "needs the user's own config folder and hasher"
    if "hydra/launcher=" in command:
        return "needs a launcher extra and other processes (joblib, SLURM, Ray)"
    return None


def every_command() -> list[tuple[str, str]]:
    """Each command once (the README and the footers repeat some); `make train` is `python train.py`."""
    seen, unique = set(), []
    for where, command in readme_commands() + help_commands():
        if command == "make train":  # the Makefile's recipe: $(PY) train.py $(ARGS)
            where, command = "README.md (make train)", FIRST
        if command not in seen:
            seen.add(command)
            unique.append((where, command))
    return unique


def is_sweep(command: str) -> bool:
    return " -m " in f" {command} " and "l2h.summary" not in command


FIRST = "python train.py"  # grh_mlp on the digits: its checkpoint is every later command's CKPT
RUN = [(where, c) for where, c in every_command() if not_run_because(c) is None]
# the sweeps (27 and 36 jobs) and the summary of one; bits=256 goes the way bits=128 goes (multi-index hashing,
# initial codes longer than the 64 features), twice as slowly
SLOW = {c for _, c in RUN if is_sweep(c) or "l2h.summary" in c} | {"python train.py model=grh_svm bits=256"}


class Workspace:
    """A folder standing for the user's checkout, where relative paths (db.l2h, queries.npy) land, and the
    outputs of earlier commands that fill the placeholders of later ones."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.runs = 0
        self.checkpoint: Path | None = None
        self.sweep: Path | None = None
        self.sweeps: dict[str, list[dict]] = {}  # each sweep's jobs, run once
        features = DataSource(name="digits", format="digits").load().features
        queries = np.ascontiguousarray(features[::17] + 0.25, dtype=np.float32)
        np.save(folder / "queries.npy", queries)
        for name in QUERY_FILES[1:]:  # .fvecs: each row its dimension (int32), then the floats
            rows = np.hstack([np.full((len(queries), 1), queries.shape[1], np.int32).view(np.float32), queries])
            rows.tofile(folder / name)

    def out(self, kind: str) -> Path:
        self.runs += 1
        return self.folder / kind / f"{self.runs:03d}"

    def fill(self, argument: str) -> str:
        key, _, value = argument.partition("=")
        if key == "ckpt_path" and (value in ("CKPT", "FILE") or "<time>" in value or "..." in value):
            return f"ckpt_path={self.checkpoint}"
        return argument.replace("multirun/<time>", str(self.sweep))

    def train(self, overrides: list[str]) -> dict:
        model = next((o.split("=", 1)[1] for o in overrides if o.startswith("model=")), "grh_mlp")
        return commands.train(self.out(f"outputs/{model}"), *overrides, *SHORTEN.get(model, ()))

    def run(self, command: str):
        """Run one README command in this process, in the workspace; returns what the command returns."""
        words = shlex.split(command)
        assert words[0] == "python", command
        if words[1:3] == ["-m", "l2h.summary"]:
            return summary_command.main([self.fill(w) for w in words[3:]])
        script, arguments = words[1], [self.fill(w) for w in words[2:]]
        if "--help" in arguments:
            return help_text(script, arguments)
        if "-m" in arguments:  # through Hydra's own sweeper, as written: the slow suite
            if command not in self.sweeps:
                arguments.remove("-m")
                self.sweep = self.out("multirun")
                jobs = commands.sweep(script[:-3], self.sweep, *arguments)
                assert len(jobs) == math.prod(len(a.split("=", 1)[1].split(",")) for a in arguments), command
                self.sweeps[command] = list(jobs.values())
            return self.sweeps[command]
        if script == "train.py":
            return self.train(arguments)
        return SCRIPTS[script](self.out(f"outputs/{script[:-3]}"), *arguments)


def help_text(script: str, arguments: list[str]) -> int:
    """``python X.py --help`` through the command's own ``@hydra.main``: Hydra prints the help and exits 0."""
    try:
        commands.command_line(script[:-3], *arguments)
    except SystemExit as exit_:
        return exit_.code or 0
    return 0


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The workspace after the README's first command, `python train.py` (grh_mlp, its steps shortened): its
    checkpoint is the CKPT, FILE and outputs/grh_mlp/<time>/model.ckpt of the later commands, and db.l2h is what
    the README's own index command writes from it."""
    folder = tmp_path_factory.mktemp("checkout")
    here = os.getcwd()
    os.chdir(folder)
    try:
        space = Workspace(folder)
        space.first = space.run(FIRST)
        space.checkpoint = Path(space.first["checkpoint"])
        [index_line] = [c for _, c in RUN if c.startswith("python index.py") and "out=db.l2h" in c]
        space.run(index_line)
        yield space
    finally:
        os.chdir(here)


@pytest.fixture
def inside(workspace, monkeypatch):
    monkeypatch.chdir(workspace.folder)
    return workspace


def test_the_readme_and_help_commands_are_found():
    """The parsing above finds what a reader sees: a change of the README's format must not empty this suite."""
    found = [c for _, c in every_command()]
    assert "python train.py" in found and "python train.py model=itq bits=64" in found
    assert any(c.startswith("python search.py index_path=db.l2h queries.path=queries.npy k=10") for c in found)
    assert "python index.py ckpt_path=outputs/grh_mlp/<time>/model.ckpt out=db.l2h" in found
    assert len(RUN) >= 15


def test_the_python_modules_the_readme_names_exist():
    """``python -m MODULE`` anywhere in the README (its prose included) names a module that exists."""
    import importlib.util

    text = (ROOT / "README.md").read_text()
    named = sorted(set(re.findall(r"python -m ([\w.]+)", text)) - {"build", "pip", "pytest"})
    missing = [m for m in named if importlib.util.find_spec(m.rsplit(".", 1)[0]) is None
               or importlib.util.find_spec(m) is None]
    assert not missing, f"README.md names modules that do not exist: {missing}"


def _check(command: str, result) -> None:
    """What each kind of command must leave behind, beyond not failing."""
    if "--help" in command or "l2h.summary" in command:
        assert result == 0, command
    elif command.startswith("python search.py"):
        assert result["queries"] > 0
    elif isinstance(result, list):
        assert all(np.isfinite(m["map"]) for m in result)
    elif command.startswith(("python train.py", "python evaluate.py")):
        assert np.isfinite(result["map"]) and result["radius"], command


def _params():
    for where, command in RUN:
        marks = [pytest.mark.slow] if command in SLOW else []
        if "trainer=gpu" in command:
            marks.append(pytest.mark.skipif(not torch.cuda.is_available(), reason="trainer=gpu needs a GPU"))
        yield pytest.param(command, marks=marks, id=f"{where}: {command}")


@pytest.mark.parametrize("command", list(_params()))
def test_command_runs_as_written(inside, command):
    if "l2h.summary" in command and inside.sweep is None:  # any sweep's folder stands in: the quickest
        inside.run(next(c for _, c in RUN if is_sweep(c) and "grh_mlp" not in c))
    _check(command, inside.first if command == FIRST else inside.run(command))
