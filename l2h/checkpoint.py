"""Checkpoints: one file holding a trained :class:`HashModel` (weights, preprocessing, how to rebuild it) and the
run's configuration, as plain dicts and tensors. They load with ``torch.load(weights_only=True)``, so opening
a checkpoint from elsewhere never runs code from it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

import l2h
from l2h.data.preprocess import Preprocessor
from l2h.errors import L2HError
from l2h.models.base import HashModel
from l2h.models.partitioners import build

FORMAT = "l2h-checkpoint"
FORMAT_VERSION = 1


def save(path: str | Path, model: HashModel, meta: dict) -> Path:
    """Write atomically: a temporary file beside the target, renamed over it once complete."""
    path = Path(path)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "l2h_version": l2h.__version__,
        "bits": model.bits,
        "partitioner": {"name": type(model.hash_functions).__name__, "hparams": model.hash_functions.hparams()},
        "preprocess": model.preprocess.hparams(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": meta,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path: str | Path) -> tuple[HashModel, dict]:
    """-> (model on the CPU, the meta dict saved with it)."""
    path = Path(path) if path else None
    if path is None or not path.is_file():
        raise L2HError(f"checkpoint {path} does not exist: pass ckpt_path=/path/to/model.ckpt from a training run")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - whatever torch.load trips on, the file is not a checkpoint
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise L2HError(f"{path} is not an l2h checkpoint ({reason}): pass the model.ckpt a training run wrote") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise L2HError(f"{path} is not an l2h checkpoint: pass the model.ckpt a training run wrote")
    if payload.get("format_version") != FORMAT_VERSION:
        raise L2HError(f"{path} has checkpoint format {payload.get('format_version')}, this l2h reads "
                       f"{FORMAT_VERSION}: retrain with this version")
    spec = payload["partitioner"]
    model = HashModel(Preprocessor(**payload["preprocess"]), build(spec["name"], spec["hparams"]))
    model.load_state_dict(payload["state_dict"])
    return model.eval(), payload["meta"]
