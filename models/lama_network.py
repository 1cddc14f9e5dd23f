"""big-lama's generator: advimman/lama ``ffc.py`` ``FFCResNetGenerator`` (fast Fourier convolutions).

The big-lama generator is ``ffc_resnet_075`` with 18 blocks: ngf 64, 3 downsamplings, global ratio
0.75 in the residual blocks, no LFU, sigmoid output. Key names follow ``generator.model.<i>...``.
"""

from __future__ import annotations

import torch
from torch import nn

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
