"""Safe checkpoint loading shared by the deep backends.

Weights are read with ``safetensors`` or with ``torch.load(weights_only=True)``, never with an
unrestricted unpickler: a checkpoint is data from the internet and must not be able to run code.
Objects that ``weights_only`` refuses (configs,
callbacks in Lightning ``.ckpt`` files) are replaced by inert stubs, never imported. Training
checkpoints that wrap the weights (``{"state_dict": ...}``, ``{"model": ...}``) are
unwrapped, and wrapper prefixes (``module.`` from DataParallel, ``_orig_mod.`` from torch.compile)
are stripped.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from models.errors import ModelUnavailable

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


_GLOBAL_RE = re.compile(r"GLOBAL ([\w.]+) was not an allowed global")


def _stub(qualname: str) -> type:
    # An inert stand-in: it stores whatever the pickle hands it and runs no code of the original.
    def __init__(self: object, *args: object, **kwargs: object) -> None:
        self.__dict__["_args"] = (args, kwargs)

    def __setstate__(self: object, state: object) -> None:
        self.__dict__["_state"] = state

    return type(qualname.rsplit(".", 1)[-1], (), {"__init__": __init__, "__setstate__": __setstate__})


def _torch_load_stubbed(path: Path, max_stubs: int = 64) -> object:
    """``torch.load(weights_only=True)``; globals it refuses (training configs, Lightning callbacks
    inside ``best.ckpt`` files) are replaced by inert stubs, so no pickled code ever runs."""
    import torch

    stubs: list[tuple[type, str]] = []
    for _ in range(max_stubs):
        try:
            with torch.serialization.safe_globals(list(stubs)):
                return torch.load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            match = _GLOBAL_RE.search(str(exc))
            if match is None:
                raise
            stubs.append((_stub(match.group(1)), match.group(1)))
    raise ModelUnavailable(f"The checkpoint {path.name} holds too many Python objects besides weights.")


def load_checkpoint(path: Path | str) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a ``torch.save`` file, safely.

    Raises
    ------
    ModelUnavailable
        When the file is missing, unreadable or not a weights file.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelUnavailable(f"The model weights file {path} does not exist.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: dict[str, torch.Tensor] = load_file(str(path), device="cpu")
        else:
            state = _unwrap(_torch_load_stubbed(path))
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
