"""The XMem network (Cheng & Schwing, ECCV 2022) with the official checkpoint's key layout.

``XMem.pth`` loads into `XMemNetwork` with ``strict=True``. Dimensions are read from the checkpoint
(``key_dim``, ``value_dim``, ``hidden_dim``) as the official code does; ``base`` scales every width
so that tests can build a tiny network with the same keys.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from models.xmem.modules import (
    Decoder,
    KeyEncoder,
    KeyProjection,
    ValueEncoder,
    aggregate,
)

Features = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class XMemNetwork(nn.Module):
    """Key encoder (ResNet-50), value encoder (ResNet-18 + masks), key projection and decoder.

    Parameters
    ----------
    key_dim, value_dim, hidden_dim
        Key channels, value channels and sensory-memory channels (64, 512, 64 in ``XMem.pth``).
    base
        Width of the first ResNet stage; 64 is the real network, 4 a tiny test network.
    """

    def __init__(self, key_dim: int = 64, value_dim: int = 512, hidden_dim: int = 64, base: int = 64) -> None:
        super().__init__()
        self.key_dim, self.value_dim, self.hidden_dim, self.base = key_dim, value_dim, hidden_dim, base
        self.key_encoder = KeyEncoder(base)
        self.value_encoder = ValueEncoder(value_dim, hidden_dim, base)
        self.key_proj = KeyProjection(base * 16, key_dim)
        self.decoder = Decoder(value_dim, hidden_dim, base)

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor]) -> XMemNetwork:
        """Infer the dimensions from a checkpoint, like the official ``init_hyperparameters``."""
        key_dim = state["key_proj.key_proj.weight"].shape[0]
        value_dim = state["value_encoder.fuser.block2.conv2.weight"].shape[0]
        transform = state.get("decoder.hidden_update.transform.weight")
        hidden_dim = 0 if transform is None else transform.shape[0] // 3
        base = state["key_encoder.conv1.weight"].shape[0]
        return cls(int(key_dim), int(value_dim), int(hidden_dim), int(base))

    def encode_key(self, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, Features]:
        """Frame ``(1, 3, H, W)`` (ImageNet-normalised) -> key, shrinkage, selection, (f16, f8, f4)."""
        f16, f8, f4 = self.key_encoder(frame)
        key, shrinkage, selection = self.key_proj(f16)
        return key, shrinkage, selection, (f16, f8, f4)

    def encode_value(self, frame: torch.Tensor, f16: torch.Tensor, hidden: torch.Tensor, masks: torch.Tensor,
                     deep_update: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Masks ``(1, N, H, W)`` -> values ``(1, N, CV, H/16, W/16)`` and the (deep-updated) hidden state."""
        n = masks.shape[1]
        if n > 1:
            others = masks.sum(1, keepdim=True) - masks
        else:
            others = torch.zeros_like(masks)
        return self.value_encoder(frame, f16, hidden, masks, others, deep_update)

    def segment(self, feats: Features, readout: torch.Tensor, hidden: torch.Tensor | None,
                h_out: bool = True) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Readout ``(1, N, CV, h, w)`` -> new hidden state and probabilities ``(1, N+1, H, W)`` (bg first)."""
        new_hidden, logits = self.decoder(*feats, hidden, readout, h_out=h_out)
        return new_hidden, aggregate(torch.sigmoid(logits), dim=1)


def build_random(base: int = 64, key_dim: int = 64, value_dim: int = 512, hidden_dim: int = 64) -> XMemNetwork:
    """A randomly initialised XMem at the real size (defaults) for benchmarks and key-layout tests."""
    return XMemNetwork(key_dim, value_dim, hidden_dim, base).eval()
