"""MODNet (ZHKKKe/MODNet ``src/models/modnet.py``, MobileNetV2 backbone) as a "matter" backend.

The official ``modnet_photographic_portrait_matting.ckpt`` is saved from ``nn.DataParallel`` (keys
start with ``module.``, stripped by the loader) and stores the backbone twice, as ``backbone.*`` and
``lr_branch.backbone.*`` (the same module registered under two names); this network registers it the
same way so the checkpoint loads with ``strict=True``.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.base import Image
from models.errors import ModelUnavailable
from models.u2net import CropMatter


def _make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _conv_bn(inp: int, oup: int, k: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inp, oup, k, stride, k // 2, bias=False), nn.BatchNorm2d(oup), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """MobileNetV2 block; ``conv`` indices match the checkpoint (expansion 1 has no 1x1 expand)."""

    def __init__(self, inp: int, oup: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = round(inp * expansion)
        self.use_res = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += [nn.Conv2d(inp, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
                   nn.ReLU6(inplace=True), nn.Conv2d(hidden, oup, 1, bias=False), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 feature extractor (no classifier); ``alpha`` scales widths (1.0 is the real one)."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        setting = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                   (6, 320, 1, 1)]
        cin = _make_divisible(32 * alpha)
        self.last_channel = _make_divisible(1280 * alpha) if alpha > 1.0 else 1280
        feats: list[nn.Module] = [_conv_bn(3, cin, 3, 2)]
        self.enc_channels: list[int] = []
        for t, c, n, s in setting:
            cout = _make_divisible(int(c * alpha))
            for i in range(n):
                feats.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        feats.append(_conv_bn(cin, self.last_channel, 1, 1))
        self.features = nn.Sequential(*feats)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features at 1/2, 1/4, 1/8, 1/16, 1/32 (``features`` ranges 0-1, 2-3, 4-6, 7-13, 14-18)."""
        out = []
        for lo, hi in ((0, 2), (2, 4), (4, 7), (7, 14), (14, 19)):
            for n in range(lo, hi):
                x = self.features[n](x)
            out.append(x)
        return out


class MobileNetV2Backbone(nn.Module):
    """The official wrapper: the MobileNetV2 lives under ``model``."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.model = MobileNetV2(alpha)
        widths = [_make_divisible(c * alpha) for c in (16, 24, 32, 96)]
        self.enc_channels = [*widths, self.model.last_channel]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.model(x)


class IBNorm(nn.Module):
    """Half batch norm, half instance norm.

    The official forward takes the instance-norm half as ``x[:, inorm_channels:]``; for odd widths
    that drops a channel (and the next layer fails), so we slice from ``bnorm_channels``, which is the
    same for every published (even) width and right for odd ones.
    """

    def __init__(self, c: int) -> None:
        super().__init__()
        self.bnorm_channels = c // 2
        self.inorm_channels = c - self.bnorm_channels
        self.bnorm = nn.BatchNorm2d(self.bnorm_channels)
        self.inorm = nn.InstanceNorm2d(self.inorm_channels, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bn = self.bnorm(x[:, : self.bnorm_channels].contiguous())
        inn = self.inorm(x[:, self.bnorm_channels :].contiguous())
        return torch.cat([bn, inn], 1)


class Conv2dIBNormRelu(nn.Module):
    """Convolution (+ IBNorm) (+ ReLU) under ``layers``."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, padding: int = 0, ibn: bool = True,
                 relu: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride=stride, padding=padding)]
        if ibn:
            layers.append(IBNorm(cout))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class SEBlock(nn.Module):
    """Squeeze-excitation with bias-free linears (``fc.0``, ``fc.2``)."""

    def __init__(self, c: int, reduction: int = 4) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(c, c // reduction, bias=False), nn.ReLU(inplace=True),
                                nn.Linear(c // reduction, c, bias=False), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x.mean((2, 3)))[:, :, None, None]


def _up(x: torch.Tensor, s: float) -> torch.Tensor:
    return F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)


class LRBranch(nn.Module):
    """Low-resolution (semantic) branch; shares the backbone module with the parent."""

    def __init__(self, backbone: MobileNetV2Backbone) -> None:
        super().__init__()
        e = backbone.enc_channels
        self.backbone = backbone
        self.se_block = SEBlock(e[4])
        self.conv_lr16x = Conv2dIBNormRelu(e[4], e[3], 5, padding=2)
        self.conv_lr8x = Conv2dIBNormRelu(e[3], e[2], 5, padding=2)
        # The training-only semantic head: unused at inference, kept so checkpoints load strictly.
        self.conv_lr = Conv2dIBNormRelu(e[2], 1, 3, stride=2, padding=1, ibn=False, relu=False)

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        enc = self.backbone(img)
        lr8x = self.conv_lr8x(_up(self.conv_lr16x(_up(self.se_block(enc[4]), 2)), 2))
        return lr8x, enc[0], enc[1]


class HRBranch(nn.Module):
    """High-resolution (detail) branch."""

    def __init__(self, hr: int, e: list[int]) -> None:
        super().__init__()
        self.tohr_enc2x = Conv2dIBNormRelu(e[0], hr, 1)
        self.conv_enc2x = Conv2dIBNormRelu(hr + 3, hr, 3, stride=2, padding=1)
        self.tohr_enc4x = Conv2dIBNormRelu(e[1], hr, 1)
        self.conv_enc4x = Conv2dIBNormRelu(2 * hr, 2 * hr, 3, padding=1)
        self.conv_hr4x = nn.Sequential(Conv2dIBNormRelu(3 * hr + 3, 2 * hr, 3, padding=1),
                                       Conv2dIBNormRelu(2 * hr, 2 * hr, 3, padding=1),
                                       Conv2dIBNormRelu(2 * hr, hr, 3, padding=1))
        self.conv_hr2x = nn.Sequential(Conv2dIBNormRelu(2 * hr, 2 * hr, 3, padding=1),
                                       Conv2dIBNormRelu(2 * hr, hr, 3, padding=1),
                                       Conv2dIBNormRelu(hr, hr, 3, padding=1),
                                       Conv2dIBNormRelu(hr, hr, 3, padding=1))
        # The training-only detail head: unused at inference, kept so checkpoints load strictly.
        self.conv_hr = nn.Sequential(Conv2dIBNormRelu(hr + 3, hr, 3, padding=1),
                                     Conv2dIBNormRelu(hr, 1, 1, ibn=False, relu=False))

    def forward(self, img: torch.Tensor, enc2x: torch.Tensor, enc4x: torch.Tensor, lr8x: torch.Tensor) -> torch.Tensor:
        img2x, img4x = _up(img, 0.5), _up(img, 0.25)
        enc2x = self.tohr_enc2x(enc2x)
        hr4x = self.conv_enc2x(torch.cat([img2x, enc2x], 1))
        hr4x = self.conv_enc4x(torch.cat([hr4x, self.tohr_enc4x(enc4x)], 1))
        hr4x = self.conv_hr4x(torch.cat([hr4x, _up(lr8x, 2), img4x], 1))
        return self.conv_hr2x(torch.cat([_up(hr4x, 2), enc2x], 1))


class FusionBranch(nn.Module):
    """Fuses the two branches into the matte."""

    def __init__(self, hr: int, e: list[int]) -> None:
        super().__init__()
        self.conv_lr4x = Conv2dIBNormRelu(e[2], hr, 5, padding=2)
        self.conv_f2x = Conv2dIBNormRelu(2 * hr, hr, 3, padding=1)
        self.conv_f = nn.Sequential(Conv2dIBNormRelu(hr + 3, hr // 2, 3, padding=1),
                                    Conv2dIBNormRelu(hr // 2, 1, 1, ibn=False, relu=False))

    def forward(self, img: torch.Tensor, lr8x: torch.Tensor, hr2x: torch.Tensor) -> torch.Tensor:
        lr2x = _up(self.conv_lr4x(_up(lr8x, 2)), 2)
        f2x = self.conv_f2x(torch.cat([lr2x, hr2x], 1))
        return torch.sigmoid(self.conv_f(torch.cat([_up(f2x, 2), img], 1)))


class MODNet(nn.Module):
    """MODNet; ``forward(img in [-1, 1])`` returns the matte ``(B, 1, H, W)`` (inference mode)."""

    def __init__(self, hr_channels: int = 32, alpha: float = 1.0) -> None:
        super().__init__()
        self.backbone = MobileNetV2Backbone(alpha)
        self.lr_branch = LRBranch(self.backbone)
        self.hr_branch = HRBranch(hr_channels, self.backbone.enc_channels)
        self.f_branch = FusionBranch(hr_channels, self.backbone.enc_channels)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        lr8x, enc2x, enc4x = self.lr_branch(img)
        hr2x = self.hr_branch(img, enc2x, enc4x, lr8x)
        return self.f_branch(img, lr8x, hr2x)


def build_random(hr_channels: int = 32, alpha: float = 1.0) -> MODNet:
    """A randomly initialised MODNet at the real size by default, for benchmarks."""
    return MODNet(hr_channels, alpha).eval()


class MODNetMatter(CropMatter):
    """MODNet matte (official ``modnet_*.ckpt``). Options: ``ref_size`` (512, the official default)."""

    name: ClassVar[str] = "modnet"

    def load(self, device: str = "cpu") -> None:
        if self.weights is None:
            raise ModelUnavailable("MODNet needs its weights file (modnet_photographic_portrait_matting.ckpt).")
        from models.checkpoints import load_checkpoint, load_into

        state = load_checkpoint(self.weights)
        first = "backbone.model.features.0.0.weight"
        if first not in state or "f_branch.conv_f.0.layers.0.weight" not in state:
            raise ModelUnavailable(f"{Path(self.weights).name} is not a MODNet checkpoint.")
        hr = int(state["hr_branch.tohr_enc2x.layers.0.weight"].shape[0])
        alpha = state[first].shape[0] / 32.0
        net = MODNet(hr, alpha)
        load_into(net, state, "MODNet")
        self.net = net.eval().to(device)
        self.device = device

    def _infer(self, crop: Image) -> np.ndarray:
        assert self.net is not None
        ref = int(self.options.get("ref_size", 512))
        h, w = crop.shape[:2]
        # Official rule: scale the short side towards ref_size, then round both sides to /32.
        if max(h, w) < ref or min(h, w) > ref:
            rh, rw = (ref, int(w / h * ref)) if w >= h else (int(h / w * ref), ref)
        else:
            rh, rw = h, w
        rh, rw = max(32, rh - rh % 32), max(32, rw - rw % 32)
        x = F.interpolate(self._to_tensor(crop), size=(rh, rw), mode="area")
        pred = self.net((x - 0.5) / 0.5).float()
        pred = F.interpolate(pred, size=(h, w), mode="area")
        return pred[0, 0].cpu().numpy()
