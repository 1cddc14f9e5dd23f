"""LaMa big-lama (advimman/lama ``ffc.py`` ``FFCResNetGenerator``) as the "inpainter" backend.

Two official formats load:

- ``best.ckpt`` from ``big-lama.zip``: a Lightning checkpoint whose ``state_dict`` holds the generator
  under ``generator.`` (plus discriminator and loss weights, dropped). Its training config objects
  are refused by ``weights_only`` loading and replaced by inert stubs (`models.checkpoints`); or
  convert it once with ``python -m models.lama convert best.ckpt big-lama.safetensors``.
- a TorchScript export (``big-lama.pt``, as shipped by lama-cleaner/IOPaint): ``forward(image, mask)``
  with image in [0, 1] and a binary mask, returning the composited result.

The big-lama generator is ``ffc_resnet_075`` with 18 blocks: ngf 64, 3 downsamplings, global ratio
0.75 in the residual blocks, no LFU, sigmoid output. Key names follow ``generator.model.<i>...``.
"""

from __future__ import annotations

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
from torch import nn

from models.base import Image, Mask, Role
from models.errors import ModelUnavailable

Pair = tuple[torch.Tensor, torch.Tensor | None]  # local, global (None when there is none)
FFCInput = torch.Tensor | Pair


class FourierUnit(nn.Module):
    """1x1 convolution in the 2-D real FFT domain (real/imag interleaved per channel)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv_layer = nn.Conv2d(in_ch * 2, out_ch * 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_ch * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype, (b, _, h, w) = x.dtype, x.shape
        # FFTs run in float32: half-precision cuFFT only handles power-of-two sizes.
        with torch.autocast(x.device.type, enabled=False):
            f = torch.fft.rfftn(x.float(), dim=(-2, -1), norm="ortho")
            f = torch.stack([f.real, f.imag], dim=2).view(b, -1, h, f.shape[-1])
            f = torch.relu(self.bn(self.conv_layer(f)))
            f = f.view(b, -1, 2, h, f.shape[-1]).permute(0, 1, 3, 4, 2).contiguous()
            out = torch.fft.irfftn(torch.complex(f[..., 0], f[..., 1]), s=(h, w), dim=(-2, -1), norm="ortho")
        return out.to(dtype)


class SpectralTransform(nn.Module):
    """Global branch: 1x1 reduce, Fourier unit with a residual, 1x1 expand (LFU disabled in big-lama)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(in_ch, out_ch // 2, 1, bias=False), nn.BatchNorm2d(out_ch // 2),
                                   nn.ReLU(inplace=True))
        self.fu = FourierUnit(out_ch // 2, out_ch // 2)
        self.conv2 = nn.Conv2d(out_ch // 2, out_ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(x + self.fu(x))


class FFC(nn.Module):
    """Fast Fourier convolution: local/global split with four cross paths (absent ones are None)."""

    def __init__(self, cin: int, cout: int, k: int, ratio_gin: float, ratio_gout: float, stride: int = 1,
                 padding: int = 0, dilation: int = 1) -> None:
        super().__init__()
        in_g, out_g = int(cin * ratio_gin), int(cout * ratio_gout)
        in_l, out_l = cin - in_g, cout - out_g

        def conv(a: int, b: int) -> nn.Conv2d | None:
            if a == 0 or b == 0:
                return None
            return nn.Conv2d(a, b, k, stride, padding, dilation, bias=False, padding_mode="reflect")

        self.convl2l, self.convl2g, self.convg2l = conv(in_l, out_l), conv(in_l, out_g), conv(in_g, out_l)
        self.convg2g = SpectralTransform(in_g, out_g) if in_g and out_g else None
        self.global_in_num = in_g

    def forward(self, x: FFCInput) -> Pair:
        x_l, x_g = x if isinstance(x, tuple) else (x, None)
        out_l: torch.Tensor | None = None
        out_g: torch.Tensor | None = None
        for src, l_conv, g_conv in ((x_l, self.convl2l, self.convl2g), (x_g, self.convg2l, self.convg2g)):
            if src is None:
                continue
            if l_conv is not None:
                out_l = l_conv(src) if out_l is None else out_l + l_conv(src)
            if g_conv is not None:
                out_g = g_conv(src) if out_g is None else out_g + g_conv(src)
        assert out_l is not None
        return out_l, out_g


class FFC_BN_ACT(nn.Module):
    """FFC followed by batch norm and ReLU on each branch."""

    def __init__(self, cin: int, cout: int, k: int, ratio_gin: float, ratio_gout: float, stride: int = 1,
                 padding: int = 0, dilation: int = 1) -> None:
        super().__init__()
        self.ffc = FFC(cin, cout, k, ratio_gin, ratio_gout, stride, padding, dilation)
        out_g = int(cout * ratio_gout)
        self.bn_l = nn.BatchNorm2d(cout - out_g) if ratio_gout != 1 else None
        self.bn_g = nn.BatchNorm2d(out_g) if ratio_gout != 0 else None

    def forward(self, x: FFCInput) -> Pair:
        x_l, x_g = self.ffc(x)
        if self.bn_l is not None:
            x_l = torch.relu(self.bn_l(x_l))
        if self.bn_g is not None and x_g is not None:
            x_g = torch.relu(self.bn_g(x_g))
        return x_l, x_g


class FFCResnetBlock(nn.Module):
    """Two FFC_BN_ACT layers with a residual on both branches."""

    def __init__(self, dim: int, ratio: float) -> None:
        super().__init__()
        self.conv1 = FFC_BN_ACT(dim, dim, 3, ratio, ratio, padding=1)
        self.conv2 = FFC_BN_ACT(dim, dim, 3, ratio, ratio, padding=1)

    def forward(self, x: Pair) -> Pair:
        x_l, x_g = x
        y_l, y_g = self.conv2(self.conv1((x_l, x_g)))
        return x_l + y_l, (None if x_g is None or y_g is None else x_g + y_g)


class ConcatTupleLayer(nn.Module):
    """Local and global branches back into one tensor."""

    def forward(self, x: Pair) -> torch.Tensor:
        return x[0] if x[1] is None else torch.cat([x[0], x[1]], 1)


class FFCResNetGenerator(nn.Module):
    """The LaMa generator; ``model`` indices match ``generator.model.<i>`` in the checkpoint."""

    def __init__(self, input_nc: int = 4, output_nc: int = 3, ngf: int = 64, n_downsampling: int = 3,
                 n_blocks: int = 18, ratio: float = 0.75, max_features: int = 1024) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), FFC_BN_ACT(input_nc, ngf, 7, 0, 0)]
        for i in range(n_downsampling):
            cin, cout = min(max_features, ngf * 2**i), min(max_features, ngf * 2 ** (i + 1))
            gout = ratio if i == n_downsampling - 1 else 0
            layers.append(FFC_BN_ACT(cin, cout, 3, 0, gout, stride=2, padding=1))
        dim = min(max_features, ngf * 2**n_downsampling)
        layers += [FFCResnetBlock(dim, ratio) for _ in range(n_blocks)]
        layers.append(ConcatTupleLayer())
        for i in range(n_downsampling):
            mult = 2 ** (n_downsampling - i)
            cin, cout = min(max_features, ngf * mult), min(max_features, ngf * mult // 2)
            layers += [nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1),
                       nn.BatchNorm2d(cout), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Sigmoid()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def build_random(ngf: int = 64, n_blocks: int = 18) -> FFCResNetGenerator:
    """A randomly initialised big-lama generator (real size by default) for benchmarks."""
    return FFCResNetGenerator(ngf=ngf, n_blocks=n_blocks).eval()


def generator_from_state(state: dict[str, torch.Tensor]) -> tuple[FFCResNetGenerator, dict[str, torch.Tensor]]:
    """Build the generator a checkpoint describes; returns it and the generator's own keys."""
    from models.checkpoints import select_prefix

    if any(k.startswith("generator.") for k in state):
        state = select_prefix(state, "generator.")
    first = state.get("model.1.ffc.convl2l.weight")
    if first is None:
        raise ModelUnavailable("The file is not a LaMa checkpoint (no generator weights found).")
    n_blocks = sum(1 for k in state if k.endswith(".conv1.ffc.convl2l.weight"))
    return FFCResNetGenerator(input_nc=int(first.shape[1]), ngf=int(first.shape[0]), n_blocks=n_blocks), state


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
        self, frames: Sequence[Image], holes: Sequence[Mask], hidden: Sequence[Mask] | None = None
    ) -> list[tuple[Image, NDArray[np.uint8]]]:
        """Plates stitched from the shot's frames through the camera (`ClassicalInpainter.stitch`);
        LaMa invents only the pixels that no frame shows, and each plate's confidence says which."""
        if self.net is None:
            raise ModelUnavailable("LaMa is not loaded.")
        return _stitch_with(self, frames, holes, hidden)

    def clean_plates(self, frames: Sequence[Image], holes: Sequence[Mask]) -> list[Image]:
        """Fill ``holes[i]`` in ``frames[i]``; pixels outside the (dilated) hole are kept exactly."""
        if self.net is None:
            raise ModelUnavailable("LaMa is not loaded.")
        import contextlib

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
                 hidden: Sequence[Mask] | None) -> list[tuple[Image, NDArray[np.uint8]]]:
    from models.classical.inpaint import ClassicalInpainter

    lock = threading.Lock()  # one network, frames filled on several threads: one at a time

    def fill(image: Image, hole: Mask) -> Image:
        with lock, torch.inference_mode():
            return np.where(hole[..., None], inpainter._fill(image, hole), image).astype(np.uint8)

    # LaMa blends its own fill; no feather, so everything a few pixels beyond the hole stays exact.
    return ClassicalInpainter(spatial=fill, feather=0).stitch(frames, holes, hidden=hidden)


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
