"""Safe checkpoint loading shared by the deep backends.

Weights are read with ``safetensors`` or with ``torch.load(weights_only=True)``, never with an
unrestricted unpickler: a checkpoint is data from the internet and must not be able to run code.
Training checkpoints that wrap the weights (``{"state_dict": ...}``, ``{"model": ...}``) are
unwrapped, and wrapper prefixes (``module.`` from DataParallel, ``_orig_mod.`` from torch.compile)
are stripped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from app.errors import ModelUnavailable

if TYPE_CHECKING:
    import torch
    from torch import nn

_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "net", "params", "weights")
_STRIPPED_PREFIXES = ("module.", "_orig_mod.")


def _unwrap(obj: object) -> dict[str, torch.Tensor]:
    import torch

    # Training checkpoints nest the weights one or two levels deep.
    for _ in range(3):
        if not isinstance(obj, Mapping):
            break
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return {str(k): v for k, v in obj.items()}
        inner = next((obj[k] for k in _WRAPPER_KEYS if k in obj and isinstance(obj[k], Mapping)), None)
        if inner is None:
            # Mixed dicts (e.g. Lightning: tensors plus bookkeeping) keep only their tensors.
            tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
            if tensors:
                return tensors
            break
        obj = inner
    raise ValueError("no tensor dictionary found")


def strip_prefixes(state: Mapping[str, torch.Tensor], prefixes: Iterable[str] = _STRIPPED_PREFIXES) -> dict[str, torch.Tensor]:
    """Remove wrapper prefixes that every key shares (repeatedly, e.g. ``module._orig_mod.``)."""
    out = dict(state)
    changed = True
    while changed and out:
        changed = False
        for prefix in prefixes:
            if all(k.startswith(prefix) for k in out):
                out = {k[len(prefix) :]: v for k, v in out.items()}
                changed = True
    return out


def select_prefix(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Keep the keys under ``prefix`` (e.g. ``"generator."``) with the prefix removed."""
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def load_checkpoint(path: Path | str) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a ``torch.save`` file, safely.

    Raises
    ------
    ModelUnavailable
        When the file is missing, unreadable, not a weights file, or needs an unsafe unpickler.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelUnavailable(f"The model weights file {path} does not exist.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: dict[str, torch.Tensor] = load_file(str(path), device="cpu")
        else:
            import torch

            try:
                raw = torch.load(str(path), map_location="cpu", weights_only=True)
            except Exception as exc:
                if "weights_only" in str(exc) or "Unsupported global" in str(exc):
                    raise ModelUnavailable(
                        f"The checkpoint {path.name} holds Python objects besides weights; convert it "
                        "to .safetensors first (see docs/deep-models-2.md)."
                    ) from exc
                raise
            state = _unwrap(raw)
    except ModelUnavailable:
        raise
    except Exception as exc:
        raise ModelUnavailable(f"The model weights file {path.name} is corrupt or not a weights file.") from exc
    return strip_prefixes(state)


def load_into(module: nn.Module, state: Mapping[str, torch.Tensor], what: str) -> None:
    """``load_state_dict(strict=True)`` with a one-sentence error naming the first mismatches."""
    try:
        module.load_state_dict(dict(state), strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1:3]
        detail = " ".join(line.strip() for line in first)[:300]
        raise ModelUnavailable(f"The {what} weights do not match the expected network ({detail}).") from exc
