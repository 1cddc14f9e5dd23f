"""Segment Anything as the interactive click segmenter (role ``clicker``).

Two weight formats are accepted through one class:

- the official checkpoints (``sam_vit_b_01ec64.pth``, ``sam_vit_l_0b3195.pth``, ``sam_vit_h_4b8939.pth``)
  run with segment-anything's own model code; the architecture (variant) is read from the tensor shapes
  so nothing but the file is needed;
- a Hugging Face folder (``config.json`` + ``model.safetensors`` of ``facebook/sam-vit-*``) run with
  transformers' ``SamModel``.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from models.base import Image, Mask, Prompt, Role
from models.errors import ModelUnavailable
from models.sam.architecture import VARIANTS, build_official, official_arch, sam_architecture
from models.sam.engines import (
    Geometry,
    HfSamEngine,
    OfficialSamEngine,
    SamEngine,
    logits_to_mask,
    preprocess,
    prior_to_logits,
)
from models.torch_utils import (
    check_hf_folder,
    hf_load_errors,
    inference,
    load_state_dict,
    pick_device,
    release_memory,
    torch_threads,
)


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
        self._cache: OrderedDict[str, tuple[torch.Tensor, Geometry]] = OrderedDict()
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

    def _remember(self, image_id: str, emb: torch.Tensor, geom: Geometry) -> None:
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
