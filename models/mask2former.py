"""Mask2Former panoptic segmentation as the segmenter (role ``segmenter``).

A COCO or ADE20K panoptic checkpoint (a local Hugging Face folder) proposes segments; segments whose
class is person-like become ``character`` objects (one object id each), everything else stays
background. Pre- and post-processing are done here in numpy/torch rather than through the image
processor so no torchvision is needed; the post-processing computes what transformers'
``post_process_panoptic_segmentation`` computes at the frame size, in row bands (upsampling 100-200
query masks to full HD at once would cost gigabytes).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image as PILImage

from models.base import FrameSegmentation, Image, ObjectKind, Role
from models.errors import ModelUnavailable
from models.torch_utils import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    check_hf_folder,
    config_side,
    hf_load_errors,
    image_stats,
    images_to_tensor,
    inference,
    pick_device,
    read_json,
    release_memory,
)

# Class-name words that mean "a character" in COCO / ADE20K / Cityscapes label sets.
PERSON_WORDS = frozenset({"person", "people", "man", "woman", "boy", "girl", "child", "human", "rider",
                          "individual", "someone", "somebody", "pedestrian"})


def person_like_ids(id2label: dict[int, str], words: frozenset[str] = PERSON_WORDS) -> set[int]:
    """Class ids whose label (e.g. ADE's ``"person;individual;someone"``) contains a person word."""
    return {int(i) for i, name in id2label.items() if set(re.split(r"[;,\s_-]+", name.lower())) & words}


def _bilinear_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """``F.interpolate(mode='bilinear', align_corners=False)`` along one axis as an ``(n_out, n_in)`` matrix."""
    src = ((torch.arange(n_out, dtype=torch.float64) + 0.5) * (n_in / n_out) - 0.5).clamp_min(0)
    i0 = src.floor().long().clamp_max(n_in - 1)
    i1 = (i0 + 1).clamp_max(n_in - 1)
    frac = (src - i0).float()
    m = torch.zeros(n_out, n_in)
    rows = torch.arange(n_out)
    m.index_put_((rows, i0), 1 - frac, accumulate=True)
    m.index_put_((rows, i1), frac, accumulate=True)
    return m


def panoptic_labels(
    class_logits: torch.Tensor, mask_logits: torch.Tensor, character_ids: set[int], target: tuple[int, int],
    threshold: float = 0.5, overlap: float = 0.8, mask_threshold: float = 0.5, band: int = 64,
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """transformers' ``post_process_panoptic_segmentation`` for one image, keeping character segments.

    As transformers: mask logits to 384x384 (bilinear), sigmoid, queries scoring above ``threshold``
    (max softmax over all classes, "no object" excluded), probabilities to the ``target`` size
    (bilinear), weighted by the scores, each pixel to its best segment, a segment kept when its
    pixels are more than ``overlap`` of its own area at ``mask_threshold``. The target-size step
    runs in bands of ``band`` rows (the same numbers, computed as two small matrices), so full HD
    with 200 queries needs tens of megabytes rather than gigabytes.

    Parameters
    ----------
    class_logits
        ``(Q, C + 1)``; the last class is "no object".
    mask_logits
        ``(Q, h, w)`` as the model returns them (1/4 of its input size).

    Returns
    -------
    labels, confidence, scores
        ``uint8 (H, W)`` with 1..n for the kept character segments (in query order), a
        ``float32 (H, W)`` confidence, and each object's class score.
    """
    height, width = target
    scores, classes = class_logits.float().softmax(-1).max(-1)
    keep = (scores > threshold) & (classes != class_logits.shape[-1] - 1)
    labels = np.zeros((height, width), np.uint8)
    if not bool(keep.any()):
        return labels, np.ones((height, width), np.float32), []
    probs = F.interpolate(mask_logits[keep][None].float(), size=(384, 384), mode="bilinear",
                          align_corners=False)[0].sigmoid()
    kept_scores, kept_classes = scores[keep], classes[keep]
    n = len(kept_scores)
    rows_m, cols_m = _bilinear_matrix(384, height), _bilinear_matrix(384, width).T.contiguous()
    owner = np.empty((height, width), np.int64)
    area, original = np.zeros(n, np.int64), np.zeros(n, np.int64)
    for r0 in range(0, height, band):
        weighted = (rows_m[r0 : r0 + band] @ probs @ cols_m) * kept_scores[:, None, None]
        own = weighted.argmax(0).numpy()
        owner[r0 : r0 + band] = own
        area += np.bincount(own.ravel(), minlength=n)
        original += (weighted >= mask_threshold).flatten(1).sum(1).numpy()
    lut = np.zeros(n, np.uint8)
    out_scores: list[float] = []
    for k in range(n):
        if area[k] == 0 or original[k] == 0 or not area[k] / original[k] > overlap:
            continue  # mostly hidden behind a better segment: dropped, as the reference does
        if int(kept_classes[k]) not in character_ids or len(out_scores) >= 255:
            continue
        out_scores.append(float(kept_scores[k]))
        lut[k] = len(out_scores)
    labels = lut[owner]
    confidence = np.ones((height, width), np.float32)
    chars = torch.from_numpy(np.flatnonzero(lut))
    if len(chars):
        char_probs, char_scores = probs[chars], kept_scores[chars][:, None, None]
        for r0 in range(0, height, band):
            best = ((rows_m[r0 : r0 + band] @ char_probs @ cols_m) * char_scores).amax(0).numpy()
            confidence[r0 : r0 + band] = np.where(labels[r0 : r0 + band] > 0, best, 1.0 - best)
    return labels, confidence, out_scores


class Mask2FormerSegmenter:
    """Characters from a Mask2Former panoptic checkpoint (local Hugging Face folder).

    Parameters
    ----------
    weights
        Folder with ``config.json`` and ``model.safetensors`` (e.g. ``mask2former-swin-large-coco-panoptic``).
    short_side, long_side
        ``shortest_edge`` / ``longest_edge`` of the image processor's resize (sides then rounded up
        to a multiple of 32, as transformers does); defaults from the folder's
        ``preprocessor_config.json``, else 512 and 1333.
    threshold, overlap
        Segment score threshold and the visible-fraction rule of the panoptic merge.
    character_labels
        Extra class names to treat as characters (matched as words, like ``person``).
    batch_size
        Frames per forward pass.
    """

    name: ClassVar[str] = "mask2former"
    role: ClassVar[Role] = "segmenter"

    def __init__(self, weights: Path | None = None, **options: Any) -> None:
        self.weights = Path(weights) if weights is not None else None
        self.short_side = options.get("short_side")
        self.long_side = options.get("long_side")
        self.threshold = float(options.get("threshold", 0.5))
        self.overlap = float(options.get("overlap", 0.8))
        self.extra_words = frozenset(str(w).lower() for w in options.get("character_labels", ()))
        self.batch_size = int(options.get("batch_size", 2))
        self.device = "cpu"
        self.model: Any = None
        self.character_ids: set[int] = set()
        self.mean: tuple[float, ...] = IMAGENET_MEAN
        self.std: tuple[float, ...] = IMAGENET_STD

    def load(self, device: str = "cpu") -> None:
        """Load the model; raises `ModelUnavailable` when the folder is missing or corrupt."""
        folder = check_hf_folder(self.weights, "Mask2Former")
        from transformers import Mask2FormerForUniversalSegmentation

        with hf_load_errors("Mask2Former", folder):
            model = Mask2FormerForUniversalSegmentation.from_pretrained(str(folder), local_files_only=True)
        self._configure(folder)
        self._install(model, device)

    def _configure(self, folder: Path) -> None:
        pre = folder / "preprocessor_config.json"
        if pre.is_file():
            cfg = read_json(pre)
            self.mean, self.std = image_stats(cfg, IMAGENET_MEAN, IMAGENET_STD)
            if self.short_side is None:
                self.short_side = config_side(cfg.get("size"), "shortest_edge")
            if self.long_side is None:
                self.long_side = config_side(cfg.get("size"), "longest_edge")

    def _install(self, model: Any, device: str) -> None:
        self.device = pick_device(device)
        self.model = model.eval().to(self.device)
        id2label = {int(k): str(v) for k, v in model.config.id2label.items()}
        self.character_ids = person_like_ids(id2label, PERSON_WORDS | self.extra_words)
        if not self.character_ids:
            raise ModelUnavailable("The Mask2Former model has no person-like class, so it cannot find characters.")

    @classmethod
    def build_random(cls, size: Literal["swin_tiny", "swin_large"] = "swin_large", device: str = "cpu") -> Mask2FormerSegmenter:
        """A loaded segmenter with a real-size COCO-panoptic architecture and random weights (benchmarks)."""
        from transformers import (
            Mask2FormerConfig,
            Mask2FormerForUniversalSegmentation,
            SwinConfig,
        )

        dims = {"swin_tiny": (96, [2, 2, 6, 2], [3, 6, 12, 24], 7), "swin_large": (192, [2, 2, 18, 2], [6, 12, 24, 48], 12)}
        embed, depths, heads, window = dims[size]
        stages: dict[str, Any] = {"out_features": ["stage1", "stage2", "stage3", "stage4"]}
        backbone = SwinConfig(embed_dim=embed, depths=depths, num_heads=heads, window_size=window, **stages)
        labels = {0: "person"} | {i: f"class{i}" for i in range(1, 133)}
        cfg = Mask2FormerConfig(backbone_config=backbone, num_queries=200 if size == "swin_large" else 100,
                                id2label=labels, label2id={v: k for k, v in labels.items()})
        seg = cls(short_side=800)
        seg._install(Mask2FormerForUniversalSegmentation(cfg), device)
        return seg

    def release(self) -> None:
        """Drop the model."""
        self.model = None
        release_memory(self.device)

    def _input_size(self, h: int, w: int) -> tuple[int, int]:
        """transformers' ``get_size_with_aspect_ratio(shortest_edge, longest_edge)``, then each side
        rounded up to a multiple of 32 (``size_divisor``)."""
        size, max_size = int(self.short_side or 512), int(self.long_side or 1333)
        short, long = float(min(h, w)), float(max(h, w))
        raw = None
        if long / short * size > max_size:
            raw = max_size * short / long
            size = round(raw)
        if (h <= w and h == size) or (w <= h and w == size):
            oh, ow = h, w
        elif w < h:
            ow, oh = size, int((raw if raw is not None else size) * h / w)
        else:
            oh, ow = size, int((raw if raw is not None else size) * w / h)
        return max(32, math.ceil(oh / 32) * 32), max(32, math.ceil(ow / 32) * 32)

    def segment_shot(self, frames: Sequence[Image]) -> list[FrameSegmentation]:
        """Segment every frame; frames are read (and may be decoded) one batch at a time."""
        if self.model is None:
            raise ModelUnavailable("The Mask2Former model is not loaded.")
        out: list[FrameSegmentation] = []
        for start in range(0, len(frames), self.batch_size):
            batch = [np.asarray(frames[i])[..., :3] for i in range(start, min(start + self.batch_size, len(frames)))]
            out.extend(self._segment_batch(batch))
        return out

    def pixels(self, batch: list[Image]) -> torch.Tensor:
        """The image processor's ``pixel_values`` for frames of one size: PIL bilinear resize of the
        uint8 frame (antialiased when shrinking), rescale, normalise."""
        h, w = batch[0].shape[:2]
        ih, iw = self._input_size(h, w)
        resized = [np.asarray(PILImage.fromarray(np.ascontiguousarray(f)).resize((iw, ih), PILImage.Resampling.BILINEAR))
                   for f in batch]
        return images_to_tensor(resized, self.mean, self.std)

    def _segment_batch(self, batch: list[Image]) -> list[FrameSegmentation]:
        pixels = self.pixels(batch).to(self.device)
        with inference(self.device):
            res = self.model(pixel_values=pixels)
            cls_logits = res.class_queries_logits.float().cpu()
            mask_logits = res.masks_queries_logits.float().cpu()
        results = []
        for i, frame in enumerate(batch):
            labels, conf, _ = panoptic_labels(cls_logits[i], mask_logits[i], self.character_ids, frame.shape[:2],
                                              self.threshold, self.overlap)
            kinds: dict[int, ObjectKind] = {int(k): "character" for k in np.unique(labels) if k}
            results.append(FrameSegmentation(labels=labels, kinds=kinds, confidence=np.clip(conf, 0, 1)))
        return results
