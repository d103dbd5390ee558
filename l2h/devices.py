"""Which torch device a setting names. Imports torch only when called, so the index package stays light."""

from __future__ import annotations

from l2h.errors import L2HError


def resolve_device(device):
    """``auto`` (or None): the GPU when there is one, else the CPU; otherwise a torch device that must exist."""
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise L2HError(f"device={device!r} is not a torch device: use auto, cpu or cuda") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise L2HError(f"device={device} asks for a GPU but this machine has none: use auto or cpu")
    return resolved
