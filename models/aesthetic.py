"""Aesthetic score of a cut-out from its CLIP ViT-L/14 embedding (LAION "improved aesthetic predictor").

The published head (christophschuhmann/improved-aesthetic-predictor, e.g.
``sac+logos+ava1-l14-linearMSE.pth``) is a plain state dict of five linear layers in an
``nn.Sequential`` named ``layers`` - 768 -> 1024 -> 128 -> 64 -> 16 -> 1, with dropout between the
first four (indices 1, 3, 5), so the weights sit at ``layers.0``, ``layers.2``, ``layers.4``,
``layers.6`` and ``layers.7`` - applied to the L2-normalised CLIP image embedding. It predicts a
1-10 rating (AVA scale; most images fall between 4 and 7). Only this linear head is supported (the
variants with ReLUs number their layers differently and are not the published default).

What differs from the published script, on purpose: we score the character's crop (padded to a
square, background greyed, as the annotator embeds it) rather than the centre crop of the whole
frame, because the crop is what the dataset contains.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from models.errors import ModelUnavailable

SOURCE = "LAION aesthetic predictor on CLIP ViT-L/14"


class AestheticHead(nn.Module):
    """The predictor's MLP (dropout is inactive in eval mode, kept so the keys match)."""

    def __init__(self, dim: int = 768) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(dim, 1024), nn.Dropout(0.2), nn.Linear(1024, 128), nn.Dropout(0.2),
            nn.Linear(128, 64), nn.Dropout(0.1), nn.Linear(64, 16), nn.Linear(16, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # type: ignore[no-any-return]


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(loaded, dict) and "state_dict" in loaded:
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict):
        raise ModelUnavailable(f"{path.name} is not an aesthetic-predictor state dict.")
    return {k.removeprefix("model."): v for k, v in loaded.items()}


def load_aesthetic_head(path: Path | str) -> AestheticHead:
    """Load a published head strictly (every key and shape must match); raises `ModelUnavailable`."""
    path = Path(path)
    if not path.is_file():
        raise ModelUnavailable(f"The aesthetic predictor {path} is not installed.")
    try:
        state = _state_dict(path)
        dim = int(state["layers.0.weight"].shape[1])
        head = AestheticHead(dim)
        head.load_state_dict(state, strict=True)
    except (KeyError, RuntimeError, OSError, ValueError) as exc:
        raise ModelUnavailable(f"The aesthetic predictor {path.name} cannot be loaded ({exc}).") from exc
    return head.eval()


def aesthetic_scores(head: AestheticHead, embeddings: torch.Tensor) -> NDArray[np.float32]:
    """Ratings (1-10 scale) of ``(N, D)`` CLIP image embeddings (normalised here, as published)."""
    x = torch.nn.functional.normalize(embeddings.float(), dim=-1)
    with torch.no_grad():
        return head(x.to(next(head.parameters()).device)).squeeze(-1).cpu().numpy().astype(np.float32)


def to_unit(rating: float) -> float:
    """A 1-10 rating on the [0, 1] scale the selection uses (1 -> 0, 10 -> 1)."""
    return float(np.clip((rating - 1.0) / 9.0, 0.0, 1.0))
