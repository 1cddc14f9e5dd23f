"""Segment Anything as the interactive click segmenter (role ``clicker``).

Two weight formats are accepted through one class:

- the official checkpoints (``sam_vit_b_01ec64.pth``, ``sam_vit_l_0b3195.pth``, ``sam_vit_h_4b8939.pth``)
  run with segment-anything's own model code; the architecture (variant) is read from the tensor shapes
  so nothing but the file is needed;
- a Hugging Face folder (``config.json`` + ``model.safetensors`` of ``facebook/sam-vit-*``) run with
  transformers' ``SamModel``.

``segment_anything/__init__.py`` imports torchvision (only for its predictor's resizing), which is not
a dependency here, so `sam_modeling` imports ``segment_anything.modeling`` (plain torch) without ever
executing that ``__init__``; pre- and post-processing are done in numpy/OpenCV instead.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, Literal

import cv2
import numpy as np
import torch

from models.base import Image, Mask, Prompt, Role
from models.errors import ModelUnavailable
from models.torch_utils import (
    check_hf_folder,
    hf_load_errors,
    inference,
    load_state_dict,
    pick_device,
    release_memory,
    torch_threads,
)

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


@dataclass
class _Geometry:
    orig_hw: tuple[int, int]
    input_hw: tuple[int, int]  # size after resizing the longest side to img_size, before padding


def _resize_longest(image: Image, img_size: int) -> tuple[np.ndarray, _Geometry]:
    """The official ``ResizeLongestSide.apply_image``: PIL's bilinear resize (antialiased when
    shrinking) of the uint8 image to the longest side ``img_size``."""
    from PIL import Image as PILImage

    h, w = image.shape[:2]
    scale = img_size / max(h, w)
    nh, nw = int(h * scale + 0.5), int(w * scale + 0.5)
    if (nh, nw) == (h, w):
        return image, _Geometry((h, w), (nh, nw))
    resized = PILImage.fromarray(image).resize((nw, nh), resample=PILImage.Resampling.BILINEAR)
    return np.asarray(resized), _Geometry((h, w), (nh, nw))


def preprocess(image: Image, img_size: int) -> tuple[np.ndarray, _Geometry]:
    """ResizeLongestSide + normalize + pad bottom-right: ``float32 (3, img_size, img_size)``."""
    resized, geom = _resize_longest(np.ascontiguousarray(image[..., :3]), img_size)
    norm = (resized.astype(np.float32) - np.asarray(PIXEL_MEAN, np.float32)) / np.asarray(PIXEL_STD, np.float32)
    out = np.zeros((img_size, img_size, 3), np.float32)
    out[: norm.shape[0], : norm.shape[1]] = norm
    return out.transpose(2, 0, 1), geom


def prior_to_logits(prior: Mask, geom: _Geometry, img_size: int, low: int, strength: float) -> np.ndarray:
    """A binary prior mask as SAM's low-res mask prompt: ``float32 (low, low)`` logits in the padded frame."""
    nh, nw = geom.input_hw
    frame = np.zeros((img_size, img_size), np.float32)
    frame[:nh, :nw] = cv2.resize(prior.astype(np.float32), (nw, nh), interpolation=cv2.INTER_AREA)
    small = cv2.resize(frame, (low, low), interpolation=cv2.INTER_AREA)
    # Soft fractions map to soft logits, so boundary pixels stay uncertain and clicks can move them.
    return ((small * 2.0 - 1.0) * strength).astype(np.float32)


def logits_to_mask(logits: np.ndarray, geom: _Geometry, img_size: int) -> Mask:
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


class SamClicker:
    """Interactive correction with Segment Anything: clicks, a box and the object's prior mask.

    Parameters
    ----------
    weights
        An official ``.pth`` / ``.safetensors`` checkpoint, or a Hugging Face SAM folder.
    cache_size
        How many image embeddings to keep (LRU); the runner precomputes the current frame and neighbours.
    prior_strength
        Logit magnitude given to the prior mask when it is sent as the mask prompt.
    batch_size
        Images per encoder batch in `precompute_many`.
    interactive_threads
        Run a click (prompt encoder, mask decoder, upsampling) on `cpu_threads("interactive")`
        torch threads (default True), so it keeps its speed when the cores are busy.
    """

    name: ClassVar[str] = "sam"
    role: ClassVar[Role] = "clicker"

    def __init__(self, weights: Path | None = None, **options: Any) -> None:
        self.weights = Path(weights) if weights is not None else None
        self.cache_size = int(options.get("cache_size", 8))
        self.prior_strength = float(options.get("prior_strength", 8.0))
        self.batch_size = int(options.get("batch_size", 2))
        self.decoder_heads = int(options.get("decoder_heads", 8))
        self.interactive_threads = bool(options.get("interactive_threads", True))
        self.device = "cpu"
        self.engine: SamEngine | None = None
        self.variant = ""
        self._cache: OrderedDict[str, tuple[torch.Tensor, _Geometry]] = OrderedDict()
        self._lock = threading.RLock()

    # -- loading --------------------------------------------------------------------------------
    def load(self, device: str = "cpu") -> None:
        """Load the weights onto ``device``; raises `ModelUnavailable` when missing or corrupt."""
        if self.weights is None:
            raise ModelUnavailable("No Segment Anything weights are configured.")
        device = pick_device(device)
        if self.weights.is_dir():
            folder = check_hf_folder(self.weights, "Segment Anything")
            from transformers import SamModel

            with hf_load_errors("Segment Anything", folder):
                hf_model: Any = SamModel.from_pretrained(str(folder), local_files_only=True)
            vc = hf_model.config.vision_config
            named = [n for n, v in VARIANTS.items() if (v["embed_dim"], v["depth"]) == (vc.hidden_size, vc.num_hidden_layers)]
            self.variant = f"hf-{named[0] if named else vc.hidden_size}"
            self._install(HfSamEngine(hf_model), device)
            return
        state = load_state_dict(self.weights)
        arch = sam_architecture(state)
        model = build_official(arch, self.decoder_heads)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ModelUnavailable(f"The Segment Anything checkpoint {self.weights.name} does not match its architecture.") from exc
        self.variant = str(arch["variant"])
        self._install(OfficialSamEngine(model), device)

    @classmethod
    def build_random(cls, size: Literal["vit_b", "vit_l", "vit_h"] = "vit_b", device: str = "cpu") -> SamClicker:
        """A loaded clicker with the real-size official architecture and random weights (benchmarks)."""
        clicker = cls()
        clicker.variant = size
        clicker._install(OfficialSamEngine(build_official(official_arch(size))), pick_device(device))
        return clicker

    def _install(self, engine: SamEngine, device: str) -> None:
        engine.model.eval().to(device)
        with self._lock:
            self.engine, self.device = engine, device
            self._cache.clear()

    def release(self) -> None:
        """Drop the model and the embedding cache."""
        with self._lock:
            self.engine = None
            self._cache.clear()
        release_memory(self.device)

    # -- embeddings ---------------------------------------------------------------------------
    def _need(self) -> SamEngine:
        if self.engine is None:
            raise ModelUnavailable("The Segment Anything model is not loaded.")
        return self.engine

    def precompute(self, image_id: str, image: Image) -> None:
        """Compute and cache the embedding of ``image`` (no-op when already cached)."""
        self.precompute_many([(image_id, image)])

    def precompute_many(self, items: Iterable[tuple[str, Image]]) -> None:
        """Embed several images (e.g. the current frame and neighbours) in encoder batches."""
        engine = self._need()
        todo = [(i, im) for i, im in items if i not in self._cache]
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start : start + self.batch_size]
            prepped = [preprocess(im, engine.img_size) for _, im in chunk]
            batch = torch.from_numpy(np.stack([p for p, _ in prepped])).to(self.device)
            with self._lock, inference(self.device):
                emb = engine.embed(batch).float()
                for (image_id, _), (_, geom), e in zip(chunk, prepped, emb, strict=True):
                    self._remember(image_id, e[None].clone(), geom)

    def _remember(self, image_id: str, emb: torch.Tensor, geom: _Geometry) -> None:
        self._cache[image_id] = (emb, geom)
        self._cache.move_to_end(image_id)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def cached_ids(self) -> list[str]:
        """Image ids whose embeddings are cached, oldest first."""
        return list(self._cache)

    # -- prediction ----------------------------------------------------------------------------
    def predict(self, image_id: str, image: Image, prompt: Prompt, prior: Mask | None) -> Mask:
        """Refine ``prior`` with the prompt's clicks/box and return the best mask, ``bool (H, W)``."""
        engine = self._need()
        h, w = image.shape[:2]
        if not prompt.points and prompt.box is None:
            return prior.copy() if prior is not None else np.zeros((h, w), bool)
        with self._lock:
            hit = self._cache.get(image_id)
            if hit is None or hit[1].orig_hw != (h, w):
                self._cache.pop(image_id, None)
                self.precompute(image_id, image)
            emb, geom = self._cache[image_id]
            self._cache.move_to_end(image_id)
        sy, sx = geom.input_hw[0] / h, geom.input_hw[1] / w
        coords = np.array([(x * sx, y * sy) for x, y, _ in prompt.points], np.float32).reshape(-1, 2)
        labels = np.array([1 if pos else 0 for _, _, pos in prompt.points], np.int64)
        box = None
        if prompt.box is not None:
            x0, y0, x1, y1 = prompt.box
            box = np.array([x0 * sx, y0 * sy, x1 * sx, y1 * sy], np.float32)
        mask_in = None
        if prior is not None and prior.shape == (h, w) and prior.any():
            mask_in = prior_to_logits(prior, geom, engine.img_size, engine.low_res, self.prior_strength)
        # One ambiguous click -> three candidate masks; richer prompts -> the single refined output.
        multimask = len(coords) <= 1 and box is None and mask_in is None
        threads = torch_threads("interactive") if self.interactive_threads else contextlib.nullcontext()
        with self._lock, threads, inference(self.device):
            logits, scores = engine.decode(emb, coords, labels, box, mask_in, multimask)
            best = int(np.argmax(scores))
            return logits_to_mask(logits[best], geom, engine.img_size)
