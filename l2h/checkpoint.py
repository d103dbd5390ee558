"""Checkpoints: one file holding a trained :class:`HashModel` (preprocessing, the encoder's class, settings and
weights) and the run's configuration, as plain dicts and tensors. They load with
``torch.load(weights_only=True)``, so opening a checkpoint from elsewhere never unpickles code, and the class
they name must be an l2h encoder. A SHA-256 digest of the weights is checked on load, so a damaged file is
refused instead of encoding everything differently.

This module is the inference path: it never imports the training framework."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import torch

import l2h
from l2h import atomic
from l2h.data.preprocess import Preprocessor
from l2h.encoders.base import build, class_path
from l2h.errors import L2HError
from l2h.model import HashModel

FORMAT = "l2h-checkpoint"
FORMAT_VERSION = 2


def payload_digest(spec: dict, state: dict[str, torch.Tensor], meta: dict) -> str:
    """SHA-256 of everything a checkpoint promises: the model description, the weights and the meta."""
    digest = hashlib.sha256(json.dumps([spec, meta], sort_keys=True, default=str).encode())
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def describe(model: HashModel) -> dict:
    """The model's structure as JSON values: what rebuilds it before its weights are loaded."""
    return {"bits": model.bits, "encoder": {"class": class_path(type(model.encoder)), "hparams": model.encoder.hparams()},
            "preprocess": model.preprocess.hparams()}


def rebuild(spec: dict, state: dict[str, torch.Tensor], source: str) -> HashModel:
    """A model from its description and weights, every piece checked: ``source`` names the file in errors."""
    try:
        encoder_spec, preprocess = spec["encoder"], spec["preprocess"]
        model = HashModel(Preprocessor(**preprocess), build(encoder_spec["class"], dict(encoder_spec["hparams"])))
    except (KeyError, TypeError) as exc:
        raise L2HError(f"{source} lacks part of its model description ({exc}): it is damaged or from another "
                       "tool; retrain or re-save it") from None
    if model.bits != spec.get("bits"):
        raise L2HError(f"{source} says {spec.get('bits')} bits but its encoder has {model.bits}: it is damaged")
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise L2HError(f"{source} does not hold the weights its model needs (missing {missing[:3]}, unexpected "
                       f"{unexpected[:3]}): it is damaged or from another l2h; retrain it")
    for name, tensor in expected.items():
        if tuple(state[name].shape) != tuple(tensor.shape) or state[name].dtype != tensor.dtype:
            raise L2HError(f"{source}: weight {name} has shape {tuple(state[name].shape)} where the model needs "
                           f"{tuple(tensor.shape)}: it is damaged; retrain it")
        if tensor.is_floating_point() and not torch.isfinite(state[name]).all():
            raise L2HError(f"{source}: weight {name} holds NaN or infinite values: the training diverged or the "
                           "file is damaged; retrain it")
    model.load_state_dict(state)
    return model.eval()


def save(path: str | Path, model: HashModel, meta: dict) -> Path:
    """Write atomically: the old file or the new one is at ``path``, never half of either."""
    return atomic.write_bytes(path, to_bytes(model, meta))


def to_bytes(model: HashModel, meta: dict) -> bytes:
    """The checkpoint file's content."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    spec = describe(model)
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "l2h_version": l2h.__version__, **spec,
               "state_dict": state, "sha256": payload_digest(spec, state, meta), "meta": meta}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def load(path: str | Path) -> tuple[HashModel, dict]:
    """-> (model on the CPU, the meta dict saved with it)."""
    if not path:
        raise L2HError("no checkpoint given: pass ckpt_path=/path/to/model.ckpt from a training run")
    path = Path(path).expanduser()
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise L2HError(f"checkpoint {path} {what}: pass ckpt_path=/path/to/model.ckpt from a training run")
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
    state = payload.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise L2HError(f"{path} holds no weights: it is damaged; retrain it")
    spec = {key: payload.get(key) for key in ("bits", "encoder", "preprocess")}
    meta = payload.get("meta")
    if not isinstance(meta, dict) or payload_digest(spec, state, meta) != payload.get("sha256"):
        raise L2HError(f"{path} is damaged: its contents do not match their checksum; retrain or copy it again")
    return rebuild(spec, state, str(path)), meta


def to_arrays(model: HashModel) -> tuple[dict, dict[str, np.ndarray]]:
    """The model as a JSON description and named numpy arrays, for containers that are not torch files."""
    return describe(model), {name: t.detach().cpu().numpy() for name, t in model.state_dict().items()}


def from_arrays(spec: dict, arrays: dict[str, np.ndarray], source: str) -> HashModel:
    return rebuild(spec, {name: torch.from_numpy(np.array(a)) for name, a in arrays.items()}, source)
