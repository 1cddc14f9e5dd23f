"""U^2-Net (xuebinqin/U-2-Net ``model/u2net.py``: ``U2NET`` and ``U2NETP``) as a "matter" backend.

Parameter names follow the official checkpoints (``u2net.pth``, ``u2netp.pth``): ``stage1.rebnconvin.
conv_s1.weight``, ``side1.weight``, ``outconv.weight`` ... so they load with ``strict=True``. The RSU
blocks are shared with `models.isnet`. ``div`` divides every width (1 for the real networks) so tests
can build tiny networks with the same keys. Also home of `restrict_to_mask`, the rule all matting
backends use to combine a network's matte with the coarse object mask.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.base import Image, Mask, Role, SoftMap
from models.errors import ModelUnavailable
from models.torch_utils import IMAGENET_MEAN, IMAGENET_STD


class REBNCONV(nn.Module):
    """3x3 (dilated) convolution, batch norm, ReLU."""

    def __init__(self, in_ch: int, out_ch: int, dirate: int = 1) -> None:
        super().__init__()
        self.conv_s1 = nn.Conv2d(in_ch, out_ch, 3, padding=dirate, dilation=dirate)
        self.bn_s1 = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn_s1(self.conv_s1(x)))


def _up_like(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=ref.shape[2:], mode="bilinear", align_corners=False)


class RSU(nn.Module):
    """Residual U-block of ``depth`` levels (RSU7..RSU4); ``dilated`` gives RSU4F (no pooling)."""

    def __init__(self, depth: int, in_ch: int, mid_ch: int, out_ch: int, dilated: bool = False) -> None:
        super().__init__()
        self.depth, self.dilated = depth, dilated
        self.rebnconvin = REBNCONV(in_ch, out_ch)
        rates = [1, 2, 4, 8] if dilated else [1] * (depth - 1) + [2]
        for i in range(1, depth + 1):
            setattr(self, f"rebnconv{i}", REBNCONV(out_ch if i == 1 else mid_ch, mid_ch, rates[i - 1]))
        for i in range(depth - 1, 0, -1):
            rate = rates[i - 1] if dilated else 1
            setattr(self, f"rebnconv{i}d", REBNCONV(mid_ch * 2, out_ch if i == 1 else mid_ch, rate))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hxin = self.rebnconvin(x)
        enc = []
        hx = hxin
        for i in range(1, self.depth):
            hx = getattr(self, f"rebnconv{i}")(hx)
            enc.append(hx)
            if not self.dilated and i < self.depth - 1:
                hx = F.max_pool2d(hx, 2, 2, ceil_mode=True)
        hx = getattr(self, f"rebnconv{self.depth}")(hx)
        for i in range(self.depth - 1, 0, -1):
            skip = enc[i - 1]
            hx = getattr(self, f"rebnconv{i}d")(torch.cat([hx, skip], 1))
            if not self.dilated and i > 1:
                hx = _up_like(hx, enc[i - 2])
        return hx + hxin


# (depth, in, mid, out, dilated) per stage; widths of U2NET and U2NETP
_U2NET = {"stage1": (7, 3, 32, 64), "stage2": (6, 64, 32, 128), "stage3": (5, 128, 64, 256),
          "stage4": (4, 256, 128, 512), "stage5": (4, 512, 256, 512, True), "stage6": (4, 512, 256, 512, True),
          "stage5d": (4, 1024, 256, 512, True), "stage4d": (4, 1024, 128, 256), "stage3d": (5, 512, 64, 128),
          "stage2d": (6, 256, 32, 64), "stage1d": (7, 128, 16, 64)}
_U2NETP = {"stage1": (7, 3, 16, 64), "stage2": (6, 64, 16, 64), "stage3": (5, 64, 16, 64),
           "stage4": (4, 64, 16, 64), "stage5": (4, 64, 16, 64, True), "stage6": (4, 64, 16, 64, True),
           "stage5d": (4, 128, 16, 64, True), "stage4d": (4, 128, 16, 64), "stage3d": (5, 128, 16, 64),
           "stage2d": (6, 128, 16, 64), "stage1d": (7, 128, 16, 64)}


def build_stages(module: nn.Module, spec: dict[str, tuple[Any, ...]], div: int, first_in: int | None = None) -> None:
    """Create the RSU stages of a U^2-Net-shaped network on ``module``."""
    for name, (depth, cin, mid, cout, *dil) in spec.items():
        cin = first_in if (name == "stage1" and first_in is not None) else (3 if cin == 3 else cin // div)
        setattr(module, name, RSU(depth, cin, max(1, mid // div), cout // div, bool(dil and dil[0])))


def run_stages(module: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Encoder-decoder pass; returns decoder features ``[hx1d, hx2d, hx3d, hx4d, hx5d, hx6]``."""
    enc = []
    hx = x
    for i in range(1, 7):
        hx = getattr(module, f"stage{i}")(hx)
        enc.append(hx)
        if i < 6:
            hx = F.max_pool2d(hx, 2, 2, ceil_mode=True)
    dec = [enc[5]]
    hx = enc[5]
    for i in range(5, 0, -1):
        hx = getattr(module, f"stage{i}d")(torch.cat([_up_like(hx, enc[i - 1]), enc[i - 1]], 1))
        dec.insert(0, hx)
    return dec


class U2NET(nn.Module):
    """U^2-Net; ``small=True`` is U2NETP. ``forward`` returns the fused logits ``(B, 1, H, W)``."""

    def __init__(self, small: bool = False, div: int = 1) -> None:
        super().__init__()
        spec = _U2NETP if small else _U2NET
        build_stages(self, spec, div)
        side_in = [spec[n][3] // div for n in ("stage1d", "stage2d", "stage3d", "stage4d", "stage5d", "stage6")]
        for i, c in enumerate(side_in, start=1):
            setattr(self, f"side{i}", nn.Conv2d(c, 1, 3, padding=1))
        self.outconv = nn.Conv2d(6, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = run_stages(self, x)
        sides = [_up_like(getattr(self, f"side{i + 1}")(f), x) for i, f in enumerate(feats)]
        return self.outconv(torch.cat(sides, 1))


def build_random(small: bool = False, div: int = 1) -> U2NET:
    """A randomly initialised U2NET (or U2NETP) at the real size by default, for benchmarks."""
    return U2NET(small, div).eval()


def restrict_to_mask(pred: np.ndarray, mask: Mask, band: int | None = None) -> SoftMap:
    """Combine a network matte with the coarse mask of the wanted objects.

    The matte is kept only within a band around ``mask`` (fading to zero over ``band`` pixels), so
    other characters or background the network also finds are not pulled in. When the network
    disagrees with the mask almost entirely (it missed the object) the mask itself is returned.
    """
    m = mask.astype(bool)
    if not m.any():
        return np.zeros(mask.shape, np.float32)
    if band is None:
        ys, xs = np.nonzero(m)
        band = int(max(4, 0.04 * max(np.ptp(ys) + 1, np.ptp(xs) + 1)))
    dist = cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, 5)
    falloff = np.clip(1.0 - (dist - band) / band, 0.0, 1.0)
    alpha = np.clip(pred.astype(np.float32), 0.0, 1.0) * falloff
    if float(alpha[m].mean()) < 0.2:
        return m.astype(np.float32)
    return alpha.astype(np.float32)


def crop_box(mask: Mask, margin: float = 0.15) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)`` of the mask's bounding box grown by ``margin`` of its size."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return 0, h, 0, w
    my, mx = int((np.ptp(ys) + 1) * margin) + 8, int((np.ptp(xs) + 1) * margin) + 8
    return max(0, ys.min() - my), min(h, ys.max() + 1 + my), max(0, xs.min() - mx), min(w, xs.max() + 1 + mx)


class CropMatter:
    """Shared flow of the matting backends: crop around the mask, run the net, paste, restrict."""

    name: ClassVar[str] = ""
    role: ClassVar[Role] = "matter"

    def __init__(self, weights: Path | None = None, **options: Any) -> None:
        self.weights = weights
        self.options = options
        self.net: nn.Module | None = None
        self.device = "cpu"

    def release(self) -> None:
        self.net = None

    def _infer(self, crop: Image) -> np.ndarray:
        raise NotImplementedError

    def _autocast(self) -> Any:
        import contextlib

        if not self.device.startswith("cuda"):
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)

    def matte(self, image: Image, mask: Mask) -> SoftMap:
        """Alpha of the objects in ``mask``: the network's matte near the mask, zero elsewhere."""
        if self.net is None:
            raise ModelUnavailable(f"The {self.name} matting model is not loaded.")
        if not mask.any():
            return np.zeros(mask.shape, np.float32)
        y0, y1, x0, x1 = crop_box(mask)
        with torch.inference_mode(), self._autocast():
            pred_crop = self._infer(image[y0:y1, x0:x1])
        pred = np.zeros(mask.shape, np.float32)
        pred[y0:y1, x0:x1] = pred_crop
        return restrict_to_mask(pred, mask)

    def _to_tensor(self, img: np.ndarray) -> torch.Tensor:
        # np.array: a copy, since project frames are read-only (one array shared by the frame cache)
        return torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float().to(self.device) / 255


class U2NetMatter(CropMatter):
    """U^2-Net matte (``u2net.pth`` or ``u2netp.pth``; the variant is read from the weights).

    Options: ``size`` (network input side, 320 as in the official test script).
    """

    name: ClassVar[str] = "u2net"

    def load(self, device: str = "cpu") -> None:
        if self.weights is None:
            raise ModelUnavailable("U^2-Net needs its weights file (u2net.pth); none is configured.")
        from models.checkpoints import load_checkpoint, load_into

        state = load_checkpoint(self.weights)
        if "stage1.rebnconvin.conv_s1.weight" not in state or "outconv.weight" not in state:
            raise ModelUnavailable(f"{Path(self.weights).name} is not a U^2-Net checkpoint.")
        small = state["stage2.rebnconvin.conv_s1.weight"].shape[0] == state["stage1.rebnconvin.conv_s1.weight"].shape[0]
        div = 64 // int(state["stage1.rebnconvin.conv_s1.weight"].shape[0])
        net = U2NET(small=small, div=max(1, div))
        load_into(net, state, "U^2-Net")
        self.net = net.eval().to(device)
        self.device = device

    def _infer(self, crop: Image) -> np.ndarray:
        """The official ``u2net_test.py``: skimage ``RescaleT(320)``, ``ToTensorLab(flag=0)``, d1,
        ``normPRED`` (min-max stretch); the map goes back to the crop size bilinearly (antialiased,
        as PIL) but stays float where the official script writes an 8-bit PNG (docs/models.md)."""
        assert self.net is not None
        size = int(self.options.get("size", 320))
        h, w = crop.shape[:2]
        img = skimage_resize(crop.astype(np.float64) / 255.0, (size, size))
        img = img / img.max() if img.max() > 0 else img
        img = (img - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
        x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None].float().to(self.device)
        pred = torch.sigmoid(self.net(x).float())
        pred = (pred - pred.min()) / (pred.max() - pred.min()).clamp_min(1e-12)
        pred = F.interpolate(pred, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
        return pred[0, 0].cpu().numpy()


def _gauss_matrix(n: int, sigma: float) -> np.ndarray:
    """scipy ``gaussian_filter1d(mode='constant', cval=0, truncate=4)`` along an axis of length n."""
    if sigma <= 0:
        return np.eye(n)
    radius = int(4.0 * sigma + 0.5)
    x = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 / sigma**2 * x**2)
    kernel /= kernel.sum()
    m = np.zeros((n, n))
    for i in range(n):
        lo, hi = max(0, i - radius), min(n, i + radius + 1)
        m[i, lo:hi] = kernel[lo - i + radius : hi - i + radius]
    return m


def _linear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Order-1 zoom on pixel areas (``grid_mode``) where samples beyond the edge read zero."""
    src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    i0 = np.floor(src).astype(int)
    frac = src - i0
    m = np.zeros((n_out, n_in))
    for j, (i, f) in enumerate(zip(i0, frac, strict=True)):
        if 0 <= i < n_in:
            m[j, i] += 1 - f
        if 0 <= i + 1 < n_in:
            m[j, i + 1] += f
    return m


def skimage_resize(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``skimage.transform.resize(img, shape, mode='constant')`` (order 1, default anti-aliasing) of a
    float ``(H, W, C)`` image, without depending on scikit-image.

    As skimage: when shrinking, a Gaussian of sigma ``(factor - 1) / 2`` with zero borders first;
    then a bilinear zoom on pixel areas whose samples past the edge read zero (so enlarging darkens
    the outermost half pixel); then a clip to the input's range widened to include zero. Both steps
    are linear along each axis, so they are applied as two small matrices.
    """
    h, w = img.shape[:2]
    oh, ow = shape
    fh, fw = h / oh, w / ow
    shrink = oh < h or ow < w
    mh = _linear_matrix(h, oh) @ (_gauss_matrix(h, max(0.0, (fh - 1) / 2)) if shrink else np.eye(h))
    mw = _linear_matrix(w, ow) @ (_gauss_matrix(w, max(0.0, (fw - 1) / 2)) if shrink else np.eye(w))
    # Plain matrix products (BLAS): the einsum form cost 0.3-1.2 s per crop on the CPU and was the whole
    # of a GPU matte's time (benchmarks/gpu_models.py on an H200, stop 35).
    rows = (mh @ img.reshape(h, -1)).reshape(oh, w, -1)
    out = (mw @ rows).reshape((oh, ow, *img.shape[2:]))
    return np.clip(out, min(float(img.min()), 0.0), float(img.max()))
