"""Mask2Former panoptic segmentation as the segmenter (role ``segmenter``).

A COCO or ADE20K panoptic checkpoint (a local Hugging Face folder) proposes segments; segments whose
class is person-like become ``character`` objects (one object id each), everything else stays
background. Pre- and post-processing are done here in numpy/torch rather than through the image
processor so no torchvision is needed and the label map is computed at model resolution, then resized
once with nearest neighbour (upsampling 100-200 query masks to full HD would cost gigabytes).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import cv2
import numpy as np
import torch

from models.base import FrameSegmentation, Image, ObjectKind, Role
from models.errors import ModelUnavailable
from models.torch_utils import (
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

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Class-name words that mean "a character" in COCO / ADE20K / Cityscapes label sets.
PERSON_WORDS = frozenset({"person", "people", "man", "woman", "boy", "girl", "child", "human", "rider",
                          "individual", "someone", "somebody", "pedestrian"})


def person_like_ids(id2label: dict[int, str], words: frozenset[str] = PERSON_WORDS) -> set[int]:
    """Class ids whose label (e.g. ADE's ``"person;individual;someone"``) contains a person word."""
    return {int(i) for i, name in id2label.items() if set(re.split(r"[;,\s_-]+", name.lower())) & words}


def panoptic_labels(
    class_logits: torch.Tensor, mask_logits: torch.Tensor, character_ids: set[int],
    threshold: float = 0.5, overlap: float = 0.8,
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Mask2Former's panoptic merge for one image, keeping only character segments.

    Parameters
    ----------
    class_logits
        ``(Q, C + 1)``; the last class is "no object".
    mask_logits
        ``(Q, h, w)`` at the resolution the label map is wanted.

    Returns
    -------
    labels, confidence, scores
        ``uint8 (h, w)`` with 1..n for the kept character segments (in query order), a
        ``float32 (h, w)`` confidence, and each object's class score.
    """
    # Same rules as transformers' panoptic post-processing: score = max over all classes (incl. null).
    scores, classes = class_logits.float().softmax(-1).max(-1)
    keep = (scores > threshold) & (classes != class_logits.shape[-1] - 1)
    masks = mask_logits.float().sigmoid()
    h, w = masks.shape[-2:]
    labels = np.zeros((h, w), np.uint8)
    if not bool(keep.any()):
        return labels, np.ones((h, w), np.float32), []
    kept_scores, kept_classes = scores[keep], classes[keep]
    weighted = masks[keep] * kept_scores[:, None, None]
    owner = weighted.argmax(0)  # every pixel belongs to one segment
    char_prob = torch.zeros((h, w))
    out_scores: list[float] = []
    for k in range(len(kept_scores)):
        region = owner == k
        area, original = int(region.sum()), int((weighted[k] >= 0.5).sum())
        if area == 0 or original == 0 or area / original <= overlap:
            continue  # mostly hidden behind a better segment: dropped, as the reference does
        if int(kept_classes[k]) not in character_ids or len(out_scores) >= 255:
            continue
        out_scores.append(float(kept_scores[k]))
        labels[region.numpy()] = len(out_scores)
        char_prob = torch.maximum(char_prob, weighted[k])
    confidence = torch.where(torch.from_numpy(labels > 0), char_prob, 1.0 - char_prob)
    return labels, confidence.numpy().astype(np.float32), out_scores


class Mask2FormerSegmenter:
    """Characters from a Mask2Former panoptic checkpoint (local Hugging Face folder).

    Parameters
    ----------
    weights
        Folder with ``config.json`` and ``model.safetensors`` (e.g. ``mask2former-swin-large-coco-panoptic``).
    short_side
        Resize the shorter image side to this (rounded to a multiple of 32); default from the
        folder's ``preprocessor_config.json``, else 512.
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
        short = int(self.short_side or 512)
        scale = short / min(h, w)
        # Swin needs sizes divisible by 32; cap the long side so odd aspect ratios stay affordable.
        scale = min(scale, 1333 / max(h, w))
        return max(32, round(h * scale / 32) * 32), max(32, round(w * scale / 32) * 32)

    def segment_shot(self, frames: Sequence[Image]) -> list[FrameSegmentation]:
        """Segment every frame; frames are read (and may be decoded) one batch at a time."""
        if self.model is None:
            raise ModelUnavailable("The Mask2Former model is not loaded.")
        out: list[FrameSegmentation] = []
        for start in range(0, len(frames), self.batch_size):
            batch = [np.asarray(frames[i])[..., :3] for i in range(start, min(start + self.batch_size, len(frames)))]
            out.extend(self._segment_batch(batch))
        return out

    def _segment_batch(self, batch: list[Image]) -> list[FrameSegmentation]:
        h, w = batch[0].shape[:2]
        ih, iw = self._input_size(h, w)
        resized = [cv2.resize(f, (iw, ih), interpolation=cv2.INTER_AREA) for f in batch]
        pixels = images_to_tensor(resized, self.mean, self.std).to(self.device)
        with inference(self.device):
            res = self.model(pixel_values=pixels)
            cls_logits = res.class_queries_logits.float()
            # Mask logits come at 1/4 resolution; bring them to the model input size for the merge.
            masks = torch.nn.functional.interpolate(res.masks_queries_logits.float(), size=(ih, iw), mode="bilinear",
                                                    align_corners=False)
        results = []
        for i, frame in enumerate(batch):
            labels, conf, _ = panoptic_labels(cls_logits[i].cpu(), masks[i].cpu(), self.character_ids,
                                              self.threshold, self.overlap)
            fh, fw = frame.shape[:2]
            labels = cv2.resize(labels, (fw, fh), interpolation=cv2.INTER_NEAREST).astype(np.uint8)
            conf = cv2.resize(conf, (fw, fh), interpolation=cv2.INTER_LINEAR)
            kinds: dict[int, ObjectKind] = {int(k): "character" for k in np.unique(labels) if k}
            results.append(FrameSegmentation(labels=labels, kinds=kinds, confidence=np.clip(conf, 0, 1)))
        return results
