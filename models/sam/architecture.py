"""Segment Anything's architecture: read it from a checkpoint's tensor shapes, build the official model.

``segment_anything/__init__.py`` imports torchvision (only for its predictor's resizing), which is not
a dependency here, so `sam_modeling` imports ``segment_anything.modeling`` (plain torch) without ever
executing that ``__init__``.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from collections.abc import Mapping
from functools import partial
from types import ModuleType
from typing import Any

import torch

from models.errors import ModelUnavailable

PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)

# Official hyper-parameters per variant; the tiny test models are described by shapes alone.
VARIANTS: dict[str, dict[str, Any]] = {
    "vit_b": {"embed_dim": 768, "depth": 12, "num_heads": 12, "global_attn": (2, 5, 8, 11)},
    "vit_l": {"embed_dim": 1024, "depth": 24, "num_heads": 16, "global_attn": (5, 11, 17, 23)},
    "vit_h": {"embed_dim": 1280, "depth": 32, "num_heads": 16, "global_attn": (7, 15, 23, 31)},
}


def sam_modeling() -> ModuleType:
    """Import ``segment_anything.modeling`` without running ``segment_anything/__init__.py``.

    A bare package module with the real ``__path__`` is registered just long enough for the import
    system to resolve the submodule, then removed again so a later full ``import segment_anything``
    (where torchvision exists) still runs the real ``__init__``.
    """
    cached = sys.modules.get("segment_anything.modeling")
    if cached is not None:
        return cached
    spec = importlib.util.find_spec("segment_anything")  # locating a top-level package executes nothing
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable("The segment-anything package is not installed, so SAM checkpoints cannot be used.")
    inserted = "segment_anything" not in sys.modules
    if inserted:
        sys.modules["segment_anything"] = importlib.util.module_from_spec(spec)  # not executed
    try:
        return importlib.import_module("segment_anything.modeling")
    finally:
        if inserted:
            sys.modules.pop("segment_anything", None)


def _count(state: Mapping[str, Any], prefix: str) -> int:
    pat = re.compile(re.escape(prefix) + r"(\d+)\.")
    return len({m.group(1) for k in state if (m := pat.match(k))})


def sam_architecture(state: Mapping[str, Any]) -> dict[str, Any]:
    """Infer the full SAM architecture from a state dict's key names and tensor shapes.

    Works on real tensors and on ``meta`` tensors alike (only ``.shape`` is read).
    """
    try:
        pe = state["image_encoder.patch_embed.proj.weight"].shape  # (C, 3, p, p)
        embed_dim, patch = int(pe[0]), int(pe[2])
        grid = int(state["image_encoder.pos_embed"].shape[1])
        depth = _count(state, "image_encoder.blocks.")
        rel = [tuple(state[f"image_encoder.blocks.{i}.attn.rel_pos_h"].shape) for i in range(depth)]
        global_attn = tuple(i for i, r in enumerate(rel) if r[0] == 2 * grid - 1)
        windowed = [r[0] for i, r in enumerate(rel) if i not in global_attn]
        arch = {
            "embed_dim": embed_dim,
            "patch_size": patch,
            "img_size": grid * patch,
            "depth": depth,
            "num_heads": embed_dim // int(rel[0][1]),
            "global_attn": global_attn,
            "window_size": (windowed[0] + 1) // 2 if windowed else 0,
            "mlp_ratio": state["image_encoder.blocks.0.mlp.lin1.weight"].shape[0] / embed_dim,
            "out_chans": int(state["image_encoder.neck.0.weight"].shape[0]),
            "mask_in_chans": int(state["prompt_encoder.mask_downscaling.3.weight"].shape[0]),
            "decoder_depth": _count(state, "mask_decoder.transformer.layers."),
            "decoder_mlp_dim": int(state["mask_decoder.transformer.layers.0.mlp.lin1.weight"].shape[0]),
            "num_multimask": int(state["mask_decoder.mask_tokens.weight"].shape[0]) - 1,
            "iou_head_depth": _count(state, "mask_decoder.iou_prediction_head.layers."),
            "iou_head_hidden": int(state["mask_decoder.iou_prediction_head.layers.0.weight"].shape[0]),
        }
    except (KeyError, IndexError) as exc:
        raise ModelUnavailable(f"The file is not a Segment Anything checkpoint (missing {exc}).") from exc
    named = [n for n, v in VARIANTS.items() if v["embed_dim"] == embed_dim and v["depth"] == depth]
    arch["variant"] = named[0] if named else "custom"
    return arch


def build_official(arch: Mapping[str, Any], decoder_heads: int = 8) -> torch.nn.Module:
    """Instantiate segment-anything's ``Sam`` for ``arch`` (see `sam_architecture`), random weights."""
    m = sam_modeling()
    img, dim = int(arch["img_size"]), int(arch["out_chans"])
    emb = img // int(arch["patch_size"])
    encoder = m.ImageEncoderViT(
        depth=arch["depth"], embed_dim=arch["embed_dim"], img_size=img, mlp_ratio=arch["mlp_ratio"],
        norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), num_heads=arch["num_heads"],
        patch_size=arch["patch_size"], qkv_bias=True, use_rel_pos=True,
        global_attn_indexes=tuple(arch["global_attn"]), window_size=arch["window_size"], out_chans=dim,
    )
    prompt = m.PromptEncoder(
        embed_dim=dim, image_embedding_size=(emb, emb), input_image_size=(img, img),
        mask_in_chans=arch["mask_in_chans"],
    )
    decoder = m.MaskDecoder(
        num_multimask_outputs=arch["num_multimask"],
        transformer=m.TwoWayTransformer(
            depth=arch["decoder_depth"], embedding_dim=dim, mlp_dim=arch["decoder_mlp_dim"], num_heads=decoder_heads
        ),
        transformer_dim=dim, iou_head_depth=arch["iou_head_depth"], iou_head_hidden_dim=arch["iou_head_hidden"],
    )
    return m.Sam(image_encoder=encoder, prompt_encoder=prompt, mask_decoder=decoder,
                 pixel_mean=list(PIXEL_MEAN), pixel_std=list(PIXEL_STD))


def official_arch(size: str) -> dict[str, Any]:
    """The architecture dict of an official variant (``vit_b``, ``vit_l``, ``vit_h``)."""
    v = VARIANTS[size]
    return {
        "embed_dim": v["embed_dim"], "patch_size": 16, "img_size": 1024, "depth": v["depth"],
        "num_heads": v["num_heads"], "global_attn": v["global_attn"], "window_size": 14, "mlp_ratio": 4.0,
        "out_chans": 256, "mask_in_chans": 16, "decoder_depth": 2, "decoder_mlp_dim": 2048,
        "num_multimask": 3, "iou_head_depth": 3, "iou_head_hidden": 256, "variant": size,
    }
