"""SAM's pre- and post-processing in numpy/OpenCV, and the two weight formats behind one engine interface.

The official checkpoints run with segment-anything's ``Sam`` module (`OfficialSamEngine`); a Hugging
Face folder runs with transformers' ``SamModel`` (`HfSamEngine`). Both embed a padded, normalised
image and decode clicks, a box and a mask prompt into low-resolution logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch

from models.base import Image, Mask
from models.sam.architecture import PIXEL_MEAN, PIXEL_STD


@dataclass
class Geometry:
    """Where an image sits in SAM's padded square input."""

    orig_hw: tuple[int, int]
    input_hw: tuple[int, int]  # size after resizing the longest side to img_size, before padding


def resize_longest(image: Image, img_size: int) -> tuple[np.ndarray, Geometry]:
    """The official ``ResizeLongestSide.apply_image``: PIL's bilinear resize (antialiased when
    shrinking) of the uint8 image to the longest side ``img_size``."""
    from PIL import Image as PILImage

    h, w = image.shape[:2]
    scale = img_size / max(h, w)
    nh, nw = int(h * scale + 0.5), int(w * scale + 0.5)
    if (nh, nw) == (h, w):
        return image, Geometry((h, w), (nh, nw))
    resized = PILImage.fromarray(image).resize((nw, nh), resample=PILImage.Resampling.BILINEAR)
    return np.asarray(resized), Geometry((h, w), (nh, nw))


def preprocess(image: Image, img_size: int) -> tuple[np.ndarray, Geometry]:
    """ResizeLongestSide + normalize + pad bottom-right: ``float32 (3, img_size, img_size)``."""
    resized, geom = resize_longest(np.ascontiguousarray(image[..., :3]), img_size)
    norm = (resized.astype(np.float32) - np.asarray(PIXEL_MEAN, np.float32)) / np.asarray(PIXEL_STD, np.float32)
    out = np.zeros((img_size, img_size, 3), np.float32)
    out[: norm.shape[0], : norm.shape[1]] = norm
    return out.transpose(2, 0, 1), geom


def prior_to_logits(prior: Mask, geom: Geometry, img_size: int, low: int, strength: float) -> np.ndarray:
    """A binary prior mask as SAM's low-res mask prompt: ``float32 (low, low)`` logits in the padded frame."""
    nh, nw = geom.input_hw
    frame = np.zeros((img_size, img_size), np.float32)
    frame[:nh, :nw] = cv2.resize(prior.astype(np.float32), (nw, nh), interpolation=cv2.INTER_AREA)
    small = cv2.resize(frame, (low, low), interpolation=cv2.INTER_AREA)
    # Soft fractions map to soft logits, so boundary pixels stay uncertain and clicks can move them.
    return ((small * 2.0 - 1.0) * strength).astype(np.float32)


def logits_to_mask(logits: np.ndarray, geom: Geometry, img_size: int) -> Mask:
    """Low-res logits (padded frame) -> bool mask of the original image size, as the official
    ``Sam.postprocess_masks`` (bilinear to the padded input, crop, bilinear to the image) and ``> 0``."""
    import torch.nn.functional as F

    nh, nw = geom.input_hw
    x = torch.from_numpy(np.ascontiguousarray(logits, dtype=np.float32))[None, None]
    x = F.interpolate(x, (img_size, img_size), mode="bilinear", align_corners=False)[..., :nh, :nw]
    x = F.interpolate(x, geom.orig_hw, mode="bilinear", align_corners=False)
    return (x[0, 0] > 0.0).numpy()


class SamEngine:
    """One weight format's model behind a common embed/decode interface."""

    def __init__(self, model: Any, img_size: int, emb_size: int) -> None:
        self.model: Any = model  # untyped: nn.Module attribute access defeats mypy
        self.img_size = img_size
        self.low_res = 4 * emb_size  # mask decoder output / mask prompt resolution (256 for real SAM)

    def embed(self, pixels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(
        self, emb: torch.Tensor, coords: np.ndarray, labels: np.ndarray, box: np.ndarray | None,
        mask_in: np.ndarray | None, multimask: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return low-res logits ``(K, low, low)`` and predicted IoU ``(K,)``."""
        raise NotImplementedError


class OfficialSamEngine(SamEngine):
    """segment-anything's ``Sam`` module."""

    def __init__(self, model: Any) -> None:
        enc = model.image_encoder
        super().__init__(model, int(enc.img_size), int(enc.img_size) // int(enc.patch_embed.proj.kernel_size[0]))

    def embed(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.image_encoder(pixels)  # type: ignore[no-any-return]

    def decode(
        self, emb: torch.Tensor, coords: np.ndarray, labels: np.ndarray, box: np.ndarray | None,
        mask_in: np.ndarray | None, multimask: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        dev = emb.device
        points = None
        if len(coords):
            points = (torch.from_numpy(coords)[None].to(dev), torch.from_numpy(labels)[None].to(dev))
        boxes = torch.from_numpy(box)[None].to(dev) if box is not None else None
        masks = torch.from_numpy(mask_in)[None, None].to(dev) if mask_in is not None else None
        pe = self.model.prompt_encoder
        sparse, dense = pe(points=points, boxes=boxes, masks=masks)
        low, iou = self.model.mask_decoder(
            image_embeddings=emb, image_pe=pe.get_dense_pe(), sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense, multimask_output=multimask,
        )
        return low[0].float().cpu().numpy(), iou[0].float().cpu().numpy()


class HfSamEngine(SamEngine):
    """transformers' ``SamModel`` (Hugging Face folder format)."""

    def __init__(self, model: Any) -> None:
        cfg = model.config
        super().__init__(model, int(cfg.vision_config.image_size), int(cfg.prompt_encoder_config.image_embedding_size))

    def embed(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.get_image_embeddings(pixels)  # type: ignore[no-any-return]

    def decode(
        self, emb: torch.Tensor, coords: np.ndarray, labels: np.ndarray, box: np.ndarray | None,
        mask_in: np.ndarray | None, multimask: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        dev = emb.device
        kwargs: dict[str, Any] = {}
        if len(coords):
            kwargs["input_points"] = torch.from_numpy(coords)[None, None].to(dev)
            kwargs["input_labels"] = torch.from_numpy(labels)[None, None].to(dev)
        if box is not None:
            kwargs["input_boxes"] = torch.from_numpy(box)[None, None].to(dev)
        if mask_in is not None:
            kwargs["input_masks"] = torch.from_numpy(mask_in)[None, None].to(dev)
        out = self.model(image_embeddings=emb, multimask_output=multimask, **kwargs)
        return out.pred_masks[0, 0].float().cpu().numpy(), out.iou_scores[0, 0].float().cpu().numpy()
