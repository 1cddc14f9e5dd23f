"""The one place a compute device is chosen, and how it is named to the user.

Importing this module does not import torch: a weight-free run, or a label for one, must never pay
torch's import (seconds) just to learn that it runs on the CPU.
"""

from __future__ import annotations

import sys


def pick_device(preferred: str = "auto") -> str:
    """Return a torch device string: ``preferred`` when usable, else the best available one.

    ``"auto"`` picks CUDA, then Apple MPS, then CPU. An explicit ``"cuda"`` on a machine without CUDA
    falls back to CPU rather than failing, because the weight-free path must always keep working.
    """
    if preferred == "cpu":
        return "cpu"
    import torch

    if preferred.startswith("cuda"):
        return preferred if torch.cuda.is_available() else "cpu"
    if preferred == "mps":
        return "mps" if torch.backends.mps.is_available() else "cpu"
    if preferred == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    return preferred


def needs_torch(preferred: str, *, weight_free: bool) -> bool:
    """Whether choosing the device for ``preferred`` takes asking torch (importing it)."""
    return not (preferred == "cpu" or (preferred == "auto" and weight_free))


def choose_device(preferred: str, *, weight_free: bool) -> str:
    """The device a set of backends runs on: the CPU for an explicit ``"cpu"`` or for an ``"auto"``
    run whose backends are all weight-free (without importing torch), else `pick_device`."""
    return pick_device(preferred) if needs_torch(preferred, weight_free=weight_free) else "cpu"


def describe_device(device: str) -> str:
    """``device`` for a status line, with the GPU's name when torch is already loaded (the name is not
    worth importing torch for)."""
    torch = sys.modules.get("torch")
    if device.startswith("cuda") and torch is not None and torch.cuda.is_available():
        index = int(device.partition(":")[2] or 0)
        return f"{device}: {torch.cuda.get_device_name(index)}"
    return device
