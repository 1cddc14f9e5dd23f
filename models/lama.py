"""LaMa big-lama (advimman/lama ``ffc.py`` ``FFCResNetGenerator``) as the "inpainter" backend.

Two official formats load:

- ``best.ckpt`` from ``big-lama.zip``: a Lightning checkpoint whose ``state_dict`` holds the generator
  under ``generator.`` (plus discriminator and loss weights, dropped). Its training config objects
  are refused by ``weights_only`` loading and replaced by inert stubs (`models.checkpoints`); or
  convert it once with ``python -m models.lama convert best.ckpt big-lama.safetensors``.
- a TorchScript export (``big-lama.pt``, as shipped by lama-cleaner/IOPaint): ``forward(image, mask)``
  with image in [0, 1] and a binary mask, returning the composited result.

The network itself is in `models.lama_network`.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import torch
from numpy.typing import NDArray

from models.base import Image, Mask, Role
from models.classical.geometry import Matrix
from models.errors import ModelUnavailable
from models.lama_network import generator_from_state


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(n.endswith("constants.pkl") or "/code/" in n for n in zf.namelist())


class LamaInpainter:
    """Fill holes with big-lama, one frame at a time.

    Options: ``dilate`` (pixels the hole grows by before filling, default 3, so the anti-aliased
    outline of a removed character does not bleed into the plate).
    """

    name: ClassVar[str] = "lama"
    role: ClassVar[Role] = "inpainter"

    def __init__(self, weights: Path | None = None, **options: Any) -> None:
        self.weights = weights
        self.dilate = int(options.get("dilate", 3))
        self.net: Any = None
        self.scripted = False
        self.device = "cpu"

    def load(self, device: str = "cpu") -> None:
        if self.weights is None:
            raise ModelUnavailable("LaMa needs its weights (big-lama best.ckpt, .safetensors or big-lama.pt).")
        path = Path(self.weights)
        if not path.is_file():
            raise ModelUnavailable(f"The LaMa weights file {path} does not exist.")
        if _is_torchscript(path):
            try:
                self.net = torch.jit.load(str(path), map_location=device).eval()
            except Exception as exc:
                raise ModelUnavailable(f"The TorchScript file {path.name} could not be loaded.") from exc
            self.scripted = True
        else:
            from models.checkpoints import load_checkpoint, load_into

            net, state = generator_from_state(load_checkpoint(path))
            load_into(net, state, "LaMa")
            self.net = net.eval().to(device)
            self.scripted = False
        self.device = device

    def release(self) -> None:
        self.net = None

    def _fill(self, frame: Image, hole: Mask) -> Image:
        h, w = hole.shape
        ph, pw = (-h) % 8, (-w) % 8
        # Symmetric padding to a multiple of 8, as the official predict script does.
        img = np.pad(frame, ((0, ph), (0, pw), (0, 0)), mode="symmetric")
        m = np.pad(hole, ((0, ph), (0, pw)), mode="symmetric")
        x = torch.from_numpy(img).to(self.device).permute(2, 0, 1)[None].float() / 255
        mt = torch.from_numpy(m.astype(np.float32)).to(self.device)[None, None]
        if self.scripted:
            out = self.net(x, mt)
        else:
            pred = self.net(torch.cat([x * (1 - mt), mt], 1))
            out = mt * pred + (1 - mt) * x
        # bin/predict.py: np.clip(x * 255, 0, 255).astype('uint8'), which truncates (no rounding).
        res = (out[0].float().permute(1, 2, 0) * 255).clamp(0, 255).to(torch.uint8).cpu().numpy()
        return res[:h, :w]

    def stitch(
        self, frames: Sequence[Image], holes: Sequence[Mask], transforms: Sequence[Matrix] | None = None,
        hidden: Sequence[Mask] | None = None, only: Sequence[int] | None = None,
        clear: Sequence[Mask | None] | None = None,
    ) -> list[tuple[Image, NDArray[np.uint8]]]:
        """Plates stitched from the shot's frames through the camera (`ClassicalInpainter.stitch`);
        LaMa invents only the pixels that no frame shows, and each plate's confidence says which.

        ``transforms``: the shot's camera (the pipeline's one analysis per shot); without it the camera
        is estimated from these frames, as the weight-free inpainter does."""
        if self.net is None:
            raise ModelUnavailable("LaMa is not loaded.")
        return _stitch_with(self, frames, holes, transforms, hidden, only, clear)

    def clean_plates(self, frames: Sequence[Image], holes: Sequence[Mask]) -> list[Image]:
        """Fill ``holes[i]`` in ``frames[i]``; pixels outside the (dilated) hole are kept exactly."""
        if self.net is None:
            raise ModelUnavailable("LaMa is not loaded.")
        ctx: Any = contextlib.nullcontext()
        if self.device.startswith("cuda"):
            ctx = torch.autocast("cuda", dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
        out: list[Image] = []
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * self.dilate + 1, 2 * self.dilate + 1))
        for frame, hole in zip(frames, holes, strict=True):
            hole = hole.astype(bool)
            if not hole.any():
                out.append(frame.copy())
                continue
            if self.dilate > 0:
                hole = cv2.dilate(hole.astype(np.uint8), kernel).astype(bool)
            with torch.inference_mode(), ctx:
                filled = self._fill(frame, hole)
            out.append(np.where(hole[..., None], filled, frame).astype(np.uint8))
        return out


def _stitch_with(inpainter: LamaInpainter, frames: Sequence[Image], holes: Sequence[Mask],
                 transforms: Sequence[Matrix] | None, hidden: Sequence[Mask] | None,
                 only: Sequence[int] | None = None,
                 clear: Sequence[Mask | None] | None = None) -> list[tuple[Image, NDArray[np.uint8]]]:
    from models.classical.inpaint import ClassicalInpainter

    lock = threading.Lock()  # one network, frames filled on several threads: one at a time

    def fill(image: Image, hole: Mask) -> Image:
        with lock, torch.inference_mode():
            return np.where(hole[..., None], inpainter._fill(image, hole), image).astype(np.uint8)

    # LaMa blends its own fill; no feather, so everything a few pixels beyond the hole stays exact.
    return ClassicalInpainter(spatial=fill, feather=0).stitch(frames, holes, transforms, hidden=hidden, only=only,
                                                              clear=clear)


def convert(src: Path, dst: Path) -> int:
    """Write the generator weights of ``src`` (e.g. ``best.ckpt``) to ``dst`` (``.safetensors``)."""
    from safetensors.torch import save_file

    from models.checkpoints import load_checkpoint

    net, state = generator_from_state(load_checkpoint(src))
    net.load_state_dict(state, strict=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(dst))
    return len(state)


if __name__ == "__main__":  # python -m models.lama convert best.ckpt big-lama.safetensors
    if len(sys.argv) != 4 or sys.argv[1] != "convert":
        sys.exit("usage: python -m models.lama convert SRC.ckpt DST.safetensors")
    print(f"wrote {convert(Path(sys.argv[2]), Path(sys.argv[3]))} tensors to {sys.argv[3]}")
