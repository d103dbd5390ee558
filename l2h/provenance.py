"""What reproduces a run: code version and commit, hardware, library versions."""

from __future__ import annotations

import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import l2h

LIBRARIES = ("torch", "numpy", "scipy", "numba", "pytorch-lightning", "hydra-core", "scikit-learn", "torchmetrics")


def git_commit() -> str | None:
    """The commit of the l2h source tree, with "+dirty" if it has uncommitted changes; None outside git."""
    root = Path(l2h.__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return commit.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def record() -> dict:
    import os

    import torch

    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return {
        "l2h": l2h.__version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu(),
        "cpu_count": os.cpu_count(),
        "host": platform.node(),
        "pid": os.getpid(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "libraries": versions,
    }
