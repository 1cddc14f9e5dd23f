"""Shared torch helpers for the deep backends: autocast, thread counts, safe weight loading (the
device is chosen in `models.device`).

Everything here imports torch lazily enough to stay cheap: the module itself imports torch (the deep
backends need it anyway), but nothing allocates memory or touches a GPU until a function is called.
Weights are only ever read through safetensors or ``torch.load(weights_only=True)``; an arbitrary
pickle from a downloaded checkpoint must never execute code on the user's machine.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from models.device import pick_device as pick_device  # backends import it from here
from models.errors import ModelUnavailable


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def cpu_threads(kind: str) -> int:
    """Intra-op torch threads for a kind of work: ``"interactive"`` (a click, a small decoder) or
    ``"batch"`` (encoders, whole shots).

    An interactive step is a few milliseconds of small matrix products per layer: split over many
    OpenMP threads, each layer waits for its slowest thread, and on a machine whose cores are busy
    (the batch pipeline, the video decoder, another program) that wait grows from microseconds to a
    scheduler tick per layer, which is how a 70 ms click became a 1 s click. Measured on a 2-core
    machine under heavy load (docs/results.md): a SAM ViT-B click took 1.5 s on one thread and 7.8 s
    on two. So one thread on up to 4 cores; two above that (not measured: there a second thread
    more likely finds an idle core). Batch work uses every usable core.
    """
    cores = usable_cores()
    if kind == "interactive":
        return 1 if cores <= 4 else 2
    return cores


@contextlib.contextmanager
def torch_threads(kind: str) -> Iterator[None]:
    """Run the block with `cpu_threads` (``kind``) intra-op threads, then restore the previous count.

    torch's thread count is process-wide; the pipeline runs all model work on its single worker
    thread, one job at a time, so switching around a job cannot affect another model call.
    """
    previous = torch.get_num_threads()
    wanted = cpu_threads(kind)
    if wanted != previous:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def autocast_dtype(device: str) -> torch.dtype | None:
    """The reduced-precision dtype for ``device``: bf16 where supported on CUDA, fp16 otherwise; CPU none."""
    if not device.startswith("cuda") or not torch.cuda.is_available():
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@contextlib.contextmanager
def inference(device: str) -> Iterator[None]:
    """``torch.inference_mode()`` plus bf16/fp16 autocast on CUDA only (CPU stays fp32 for accuracy)."""
    dtype = autocast_dtype(device)
    with torch.inference_mode():
        if dtype is None:
            yield
        else:
            with torch.autocast(device_type="cuda", dtype=dtype):
                yield


def load_state_dict(path: Path | str) -> dict[str, torch.Tensor]:
    """Read a checkpoint's tensors safely (see `models.checkpoints.load_checkpoint`) and insist that
    every entry is a tensor.

    Raises
    ------
    ModelUnavailable
        When the file is missing, unreadable, corrupt, or holds anything besides tensors.
    """
    from models.checkpoints import load_checkpoint

    state = load_checkpoint(path)
    if not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelUnavailable(f"The model weights file {Path(path).name} does not contain a plain tensor state dict.")
    return state


def check_hf_folder(folder: Path | str | None, what: str, weights_required: bool = True) -> Path:
    """Check that ``folder`` looks like a saved Hugging Face model and return it as a `Path`.

    A folder needs ``config.json`` and (when ``weights_required``) ``model.safetensors``, a sharded
    safetensors index, or ``pytorch_model.bin``. We only check presence here; corrupt files surface in
    `from_pretrained`, which callers wrap with `hf_load_errors`.
    """
    if folder is None:
        raise ModelUnavailable(f"No weights folder is configured for the {what} model.")
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ModelUnavailable(f"The {what} model folder {folder} has no config.json.")
    if weights_required:
        names = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
        if not any((folder / n).is_file() for n in names):
            raise ModelUnavailable(f"The {what} model folder {folder} has no weights file (model.safetensors).")
    return folder


def read_json(path: Path) -> dict[str, Any]:
    """Read a small JSON file, turning decode errors into `ModelUnavailable`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"The model file {path} cannot be read as JSON.") from exc
    if not isinstance(data, dict):
        raise ModelUnavailable(f"The model file {path} is not a JSON object.")
    return data


@contextlib.contextmanager
def hf_load_errors(what: str, folder: Path) -> Iterator[None]:
    """Turn any failure inside a ``from_pretrained`` call into one clear `ModelUnavailable`."""
    try:
        yield
    except ModelUnavailable:
        raise
    except Exception as exc:  # transformers raises many types (OSError, ValueError, SafetensorError...)
        raise ModelUnavailable(
            f"The {what} model in {folder} could not be loaded; its files are incomplete or corrupt ({exc.__class__.__name__})."
        ) from exc


def images_to_tensor(images: list[Any], mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """Stack ``uint8 (H, W, 3)`` arrays of one size into a normalized ``float32 (N, 3, H, W)`` tensor."""
    import numpy as np

    arr = np.stack([np.asarray(im, dtype=np.float32) for im in images])
    norm = (arr / np.float32(255.0) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(norm.transpose(0, 3, 1, 2), dtype=np.float32))


def release_memory(device: str) -> None:
    """Give cached GPU memory back after a model is dropped."""
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()

# Torchvision's ImageNet statistics, which most backbones here were trained with (0..1 scale).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def image_stats(cfg: dict[str, Any], mean: tuple[float, ...], std: tuple[float, ...]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``image_mean`` / ``image_std`` of a preprocessor config on the 0..1 scale (some old configs use 0..255)."""
    m = tuple(float(v) for v in cfg.get("image_mean", mean))
    s = tuple(float(v) for v in cfg.get("image_std", std))
    if max(m) > 1.0:
        m, s = tuple(v / 255.0 for v in m), tuple(v / 255.0 for v in s)
    return m, s


def config_side(value: Any, key: str = "height") -> int | None:
    """A side length from a preprocessor ``size`` / ``crop_size`` entry: an int or a dict."""
    if isinstance(value, int):
        return value
    if isinstance(value, dict) and isinstance(value.get(key), int):
        return int(value[key])
    return None
