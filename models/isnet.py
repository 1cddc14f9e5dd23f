"""IS-Net (xuebinqin/DIS ``isnet.py`` ``ISNetDIS``) as a "matter" backend.

Two checkpoints share this network: DIS's ``isnet-general-use.pth`` (plain keys, input normalised with
mean 0.5 / std 1.0) and SkyTNT/anime-segmentation's ``isnetis.ckpt`` (keys under ``net.``, plus a
``gt_encoder.`` used only in training and dropped here; input in [0, 1], letterboxed to a square).
The preset is detected from the key prefix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.base import Image
from models.checkpoints import select_prefix
from models.errors import ModelUnavailable
from models.u2net import _U2NET, CropMatter, build_stages, run_stages


class ISNetDIS(nn.Module):
    """IS-Net: a stride-2 input conv, then the U^2-Net stages; returns the first side output's logits."""

    def __init__(self, div: int = 1) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(3, 64 // div, 3, stride=2, padding=1)
        build_stages(self, _U2NET, div, first_in=64 // div)
        side_in = [_U2NET[n][3] // div for n in ("stage1d", "stage2d", "stage3d", "stage4d", "stage5d", "stage6")]
        for i, c in enumerate(side_in, start=1):
            setattr(self, f"side{i}", nn.Conv2d(c, 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The official forward skips ``pool_in`` (commented out): stage1 runs at 1/2 resolution.
        feats = run_stages(self, self.conv_in(x))
        side1 = getattr(self, "side1")  # noqa: B009 - created with setattr
        return F.interpolate(side1(feats[0]), size=x.shape[2:], mode="bilinear", align_corners=False)

    def side_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """All six side logits at input resolution (d1 is the most accurate)."""
        feats = run_stages(self, self.conv_in(x))
        return [F.interpolate(getattr(self, f"side{i + 1}")(f), size=x.shape[2:], mode="bilinear",
                              align_corners=False) for i, f in enumerate(feats)]


def build_random(div: int = 1) -> ISNetDIS:
    """A randomly initialised IS-Net at the real size by default, for benchmarks."""
    return ISNetDIS(div).eval()


class ISNetMatter(CropMatter):
    """IS-Net matte from DIS general-use weights or the anime-segmentation checkpoint.

    Options: ``size`` (square network input, 1024 as in both official scripts), ``preset``
    (``"dis"`` or ``"anime"``; detected from the checkpoint when absent).
    """

    name: ClassVar[str] = "isnet"

    def __init__(self, weights: Path | None = None, **options: Any) -> None:
        super().__init__(weights, **options)
        self.preset = str(options.get("preset", ""))

    def load(self, device: str = "cpu") -> None:
        if self.weights is None:
            raise ModelUnavailable("IS-Net needs its weights file (isnet-general-use.pth or isnetis.ckpt).")
        from models.checkpoints import load_checkpoint, load_into

        state = load_checkpoint(self.weights)
        if "net.conv_in.weight" in state:
            state = select_prefix(state, "net.")
            self.preset = self.preset or "anime"
        if "conv_in.weight" not in state:
            raise ModelUnavailable(f"{Path(self.weights).name} is not an IS-Net checkpoint.")
        self.preset = self.preset or "dis"
        div = max(1, 64 // int(state["conv_in.weight"].shape[0]))
        net = ISNetDIS(div)
        load_into(net, state, "IS-Net")
        self.net = net.eval().to(device)
        self.device = device

    def _infer(self, crop: Image) -> np.ndarray:
        assert self.net is not None
        size = int(self.options.get("size", 1024))
        h, w = crop.shape[:2]
        x = self._to_tensor(crop)
        if self.preset == "anime":
            # anime-segmentation's get_mask: letterbox into a zero square (side lengths truncated
            # with int(), as the official code), bilinear both ways, no normalisation, no stretch.
            nh, nw = (size, int(size * w / h)) if h > w else (int(size * h / w), size)
            ph, pw = (size - nh) // 2, (size - nw) // 2
            canvas = torch.zeros(1, 3, size, size, device=x.device)
            canvas[:, :, ph : ph + nh, pw : pw + nw] = F.interpolate(x, size=(nh, nw), mode="bilinear",
                                                                      align_corners=False)
            pred = torch.sigmoid(self.net(canvas).float())[:, :, ph : ph + nh, pw : pw + nw]
            pred = F.interpolate(pred, size=(h, w), mode="bilinear", align_corners=False)
        else:
            # DIS IS-Net/Inference.py: bilinear to 1024 on 0..255 values, truncated to uint8, /255,
            # mean 0.5 / std 1; sigmoid map back to the input size, then stretched to [0, 1].
            # np.array: a copy, since project frames are read-only (one array shared by the frame cache)
            raw = torch.from_numpy(np.array(crop)).permute(2, 0, 1)[None].float().to(self.device)
            x = F.interpolate(raw, size=(size, size), mode="bilinear", align_corners=False)
            x = x.to(torch.uint8).float() / 255 - 0.5
            pred = torch.sigmoid(self.net(x).float())
            pred = F.interpolate(pred, size=(h, w), mode="bilinear", align_corners=False)
            pred = (pred - pred.min()) / (pred.max() - pred.min()).clamp_min(1e-12)
        return pred[0, 0].cpu().numpy()
