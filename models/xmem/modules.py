"""XMem's building blocks, with the parameter names of the official checkpoint.

Tensors named ``g`` carry an object axis: ``(B, num_objects, C, H, W)``; ``x`` tensors depend on the
image only: ``(B, C, H, W)``. ``s`` is a width scale (1.0 for the real network) so tests can build a
tiny network with the same keys.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.xmem.resnet import (
    BasicBlock,
    Bottleneck,
    init_weights,
    make_stage,
    make_stem,
)


def _group_resize(g: torch.Tensor, ratio: float, mode: str) -> torch.Tensor:
    b, n = g.shape[:2]
    align = False if mode == "bilinear" else None
    out = F.interpolate(g.flatten(0, 1), scale_factor=ratio, mode=mode, align_corners=align)
    return out.view(b, n, *out.shape[1:])


class GConv2D(nn.Conv2d):
    """A convolution applied to every object of a grouped tensor."""

    def forward(self, g: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        b, n = g.shape[:2]
        out = super().forward(g.flatten(0, 1))
        return out.view(b, n, *out.shape[1:])


class GroupResBlock(nn.Module):
    """Pre-activation residual block over a grouped tensor."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.downsample = None if in_dim == out_dim else GConv2D(in_dim, out_dim, 3, padding=1)
        self.conv1 = GConv2D(in_dim, out_dim, 3, padding=1)
        self.conv2 = GConv2D(out_dim, out_dim, 3, padding=1)

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.relu(self.conv1(F.relu(g))))
        return out + (g if self.downsample is None else self.downsample(g))


def distribute(x: torch.Tensor, g: torch.Tensor, method: str = "cat") -> torch.Tensor:
    """Broadcast image features ``x`` to every object of ``g`` (concatenate or add)."""
    xs = x.unsqueeze(1).expand(-1, g.shape[1], -1, -1, -1)
    return torch.cat([xs, g], 2) if method == "cat" else xs + g


class ChannelGate(nn.Module):
    """CBAM channel attention (average and max pooled descriptors through one MLP)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(channels, channels // reduction), nn.ReLU(),
                                 nn.Linear(channels // reduction, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        att = self.mlp(x.mean((2, 3))) + self.mlp(x.amax((2, 3)))
        return x * torch.sigmoid(att)[:, :, None, None]


class _BasicConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 7, padding=3)


class SpatialGate(nn.Module):
    """CBAM spatial attention from channel-max and channel-mean maps."""

    def __init__(self) -> None:
        super().__init__()
        self.spatial = _BasicConv()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.amax(1, keepdim=True), x.mean(1, keepdim=True)], 1)
        return x * torch.sigmoid(self.spatial.conv(pooled))


class CBAM(nn.Module):
    """Channel then spatial attention (attribute names match the checkpoint: ``ChannelGate``...)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.ChannelGate = ChannelGate(channels)
        self.SpatialGate = SpatialGate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.SpatialGate(self.ChannelGate(x))


class FeatureFusionBlock(nn.Module):
    """Fuse image features into every object's features, with CBAM in between."""

    def __init__(self, x_in: int, g_in: int, g_mid: int, g_out: int) -> None:
        super().__init__()
        self.block1 = GroupResBlock(x_in + g_in, g_mid)
        self.attention = CBAM(g_mid)
        self.block2 = GroupResBlock(g_mid, g_out)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        b, n = g.shape[:2]
        g = self.block1(distribute(x, g))
        r = self.attention(g.flatten(0, 1)).view(b, n, *g.shape[2:])
        return self.block2(g + r)


def _gru(values: torch.Tensor, h: torch.Tensor, dim: int) -> torch.Tensor:
    # XMem's GRU variant: the candidate is computed before the forget gate is applied.
    forget = torch.sigmoid(values[:, :, :dim])
    update = torch.sigmoid(values[:, :, dim : dim * 2])
    new = torch.tanh(values[:, :, dim * 2 :])
    return forget * h * (1 - update) + update * new


class HiddenUpdater(nn.Module):
    """Decoder-side sensory memory update from multi-scale features."""

    def __init__(self, g_dims: tuple[int, int, int], mid_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.g16_conv = GConv2D(g_dims[0], mid_dim, 1)
        self.g8_conv = GConv2D(g_dims[1], mid_dim, 1)
        self.g4_conv = GConv2D(g_dims[2], mid_dim, 1)
        self.transform = GConv2D(mid_dim + hidden_dim, hidden_dim * 3, 3, padding=1)

    def forward(self, g: list[torch.Tensor], h: torch.Tensor) -> torch.Tensor:
        x = (self.g16_conv(g[0]) + self.g8_conv(_group_resize(g[1], 0.5, "area"))
             + self.g4_conv(_group_resize(g[2], 0.25, "area")))
        return _gru(self.transform(torch.cat([x, h], 2)), h, self.hidden_dim)


class HiddenReinforcer(nn.Module):
    """Value-encoder-side sensory memory update (deep update)."""

    def __init__(self, g_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.transform = GConv2D(g_dim + hidden_dim, hidden_dim * 3, 3, padding=1)

    def forward(self, g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return _gru(self.transform(torch.cat([g, h], 2)), h, self.hidden_dim)


class KeyEncoder(nn.Module):
    """ResNet-50 up to ``layer3`` (its first residual block group is named ``res2`` in the checkpoint)."""

    def __init__(self, base: int = 64) -> None:
        super().__init__()
        self.conv1, self.bn1 = make_stem(3, base)
        self.res2, c4 = make_stage(Bottleneck, base, base, 3, 1)
        self.layer2, c8 = make_stage(Bottleneck, c4, base * 2, 4, 2)
        self.layer3, _ = make_stage(Bottleneck, c8, base * 4, 6, 2)
        init_weights(self)

    def forward(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(f))), 3, 2, 1)
        f4 = self.res2(x)
        f8 = self.layer2(f4)
        return self.layer3(f8), f8, f4


class ValueEncoder(nn.Module):
    """ResNet-18 over image + object mask + other objects' masks, fused with the key features."""

    def __init__(self, value_dim: int, hidden_dim: int, base: int = 64) -> None:
        super().__init__()
        self.conv1, self.bn1 = make_stem(5, base)
        self.layer1, c4 = make_stage(BasicBlock, base, base, 2, 1)
        self.layer2, c8 = make_stage(BasicBlock, c4, base * 2, 2, 2)
        self.layer3, c16 = make_stage(BasicBlock, c8, base * 4, 2, 2)
        init_weights(self)
        self.fuser = FeatureFusionBlock(base * 16, c16, value_dim, value_dim)
        self.hidden_reinforce = HiddenReinforcer(value_dim, hidden_dim) if hidden_dim > 0 else None

    def forward(self, image: torch.Tensor, f16: torch.Tensor, h: torch.Tensor, masks: torch.Tensor,
                others: torch.Tensor, deep_update: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        g = distribute(image, torch.stack([masks, others], 2))
        b, n = g.shape[:2]
        g = g.flatten(0, 1)
        # Official order: batch norm, max pool, then ReLU.
        g = F.relu(F.max_pool2d(self.bn1(self.conv1(g)), 3, 2, 1))
        g = self.layer3(self.layer2(self.layer1(g)))
        g = self.fuser(f16, g.view(b, n, *g.shape[1:]))
        if deep_update and self.hidden_reinforce is not None:
            h = self.hidden_reinforce(g, h)
        return g, h


class KeyProjection(nn.Module):
    """Key, shrinkage (``d_proj``) and selection (``e_proj``) heads on the 1/16 features."""

    def __init__(self, in_dim: int, key_dim: int) -> None:
        super().__init__()
        self.key_proj = nn.Conv2d(in_dim, key_dim, 3, padding=1)
        self.d_proj = nn.Conv2d(in_dim, 1, 3, padding=1)
        self.e_proj = nn.Conv2d(in_dim, key_dim, 3, padding=1)
        nn.init.orthogonal_(self.key_proj.weight)
        assert self.key_proj.bias is not None
        nn.init.zeros_(self.key_proj.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.key_proj(x), self.d_proj(x) ** 2 + 1, torch.sigmoid(self.e_proj(x))


class UpsampleBlock(nn.Module):
    """Upsample grouped features x2 and add a projected skip connection."""

    def __init__(self, skip_dim: int, up_dim: int, out_dim: int) -> None:
        super().__init__()
        self.skip_conv = nn.Conv2d(skip_dim, up_dim, 3, padding=1)
        self.out_conv = GroupResBlock(up_dim, out_dim)

    def forward(self, skip: torch.Tensor, up_g: torch.Tensor) -> torch.Tensor:
        return self.out_conv(distribute(self.skip_conv(skip), _group_resize(up_g, 2.0, "bilinear"), "add"))


class Decoder(nn.Module):
    """Memory readout + sensory memory -> per-object logits at full resolution."""

    def __init__(self, value_dim: int, hidden_dim: int, base: int = 64) -> None:
        super().__init__()
        c16, c8, c4 = base * 16, base * 8, base * 4
        self.fuser = FeatureFusionBlock(c16, value_dim + hidden_dim, c8, c8)
        self.hidden_update = HiddenUpdater((c8, c4, c4 + 1), c4, hidden_dim) if hidden_dim > 0 else None
        self.up_16_8 = UpsampleBlock(c8, c8, c4)
        self.up_8_4 = UpsampleBlock(c4, c4, c4)
        self.pred = nn.Conv2d(c4, 1, 3, padding=1)

    def forward(self, f16: torch.Tensor, f8: torch.Tensor, f4: torch.Tensor, hidden: torch.Tensor | None,
                readout: torch.Tensor, h_out: bool = True) -> tuple[torch.Tensor | None, torch.Tensor]:
        b, n = readout.shape[:2]
        fused_in = readout if self.hidden_update is None or hidden is None else torch.cat([readout, hidden], 2)
        g16 = self.fuser(f16, fused_in)
        g8 = self.up_16_8(f8, g16)
        g4 = self.up_8_4(f4, g8)
        logits = self.pred(F.relu(g4.flatten(0, 1)))
        new_hidden = None
        if h_out and self.hidden_update is not None and hidden is not None:
            g4l = torch.cat([g4, logits.view(b, n, 1, *logits.shape[-2:])], 2)
            new_hidden = self.hidden_update([g16, g8, g4l], hidden)
        logits = F.interpolate(logits, scale_factor=4.0, mode="bilinear", align_corners=False)
        return new_hidden, logits.view(b, n, *logits.shape[-2:])


def aggregate(prob: torch.Tensor, dim: int) -> torch.Tensor:
    """STM soft aggregation: per-object probabilities -> background + objects, summing to one."""
    bg = torch.prod(1 - prob, dim=dim, keepdim=True)
    p = torch.cat([bg, prob], dim).clamp(1e-7, 1 - 1e-7)
    return torch.softmax(torch.log(p / (1 - p)), dim=dim)
