"""Which torch device a setting names, and where a hasher trains. Imports torch only when called, so the index
package stays light."""

from __future__ import annotations

import inspect
import os

from l2h.errors import L2HError


def resolve_device(device):
    """``auto`` (or None): the GPU when there is one, else the CPU; otherwise a torch device that must exist."""
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise L2HError(f"device={device!r} is not a torch device: use auto, cpu, cuda or cuda:N") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise L2HError(f"device={device} asks for a GPU but this machine has none: use auto or cpu")
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise L2HError(f"device={device} names GPU {resolved.index} but this machine has "
                       f"{torch.cuda.device_count()}: use cuda:0 to cuda:{torch.cuda.device_count() - 1}, or auto")
    return resolved


def trainer_device(trainer=None):
    """The device a Lightning trainer made by ``trainer`` (a partial of ``pytorch_lightning.Trainer``, or its
    settings as a mapping; None: l2h's default, ``accelerator: auto``) trains on in this process: the CPU for
    ``accelerator: cpu`` or on a machine without a GPU, else this process's GPU (the first of ``devices`` when
    they are listed; in a data-parallel run, the one of its ``LOCAL_RANK``)."""
    import torch

    settings = trainer if hasattr(trainer, "get") else getattr(trainer, "keywords", None) or {}
    accelerator = str(settings.get("accelerator", "auto"))
    if accelerator == "mps" and torch.backends.mps.is_available():
        return torch.device("mps")
    if accelerator not in ("auto", "gpu", "cuda") or not torch.cuda.is_available():
        return torch.device("cpu")
    rank = int(os.environ.get("LOCAL_RANK", 0))
    devices = settings.get("devices")
    if devices is None or isinstance(devices, (int, str)):  # a count (or auto): GPU 0, 1, ... one per process
        return torch.device("cuda", rank)
    return torch.device("cuda", int(list(devices)[rank]))


def training_device(hasher, trainer=None):
    """Where ``hasher`` trains: on its own ``device`` setting (the matrix methods: PCAH, ITQ, KSH, ... take one),
    or on the trainer's device (GRH and the deep hashers train through Lightning and take none)."""
    if "device" in inspect.signature(type(hasher)).parameters:
        return hasher.device
    return trainer_device(trainer)


def initialise(device) -> None:
    """Start the device's runtime now (a GPU's context and cuBLAS take a second or more on first use), so that a
    timer started afterwards measures the work, not the start-up."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        ones = torch.ones(8, 8, device=device)
        (ones @ ones).sum().item()


def bf16_native() -> bool:
    """Whether this process's GPU computes in bfloat16 itself (compute capability 8 and later). PyTorch's
    ``is_bf16_supported()`` also says yes where bfloat16 is only emulated, which is slower than float16."""
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
