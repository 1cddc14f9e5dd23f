"""Annotation (role ``annotator``): CLIP tags, DINOv2 identity embeddings, BLIP-2 captions.

- CLIP (required) scores the frame against a tag vocabulary (zero-shot) and gives the frame embedding.
- DINOv2 (optional) embeds each character crop for identity clustering across shots; without it the
  CLIP image tower embeds the crops instead.
- BLIP-2 (optional) writes a caption; without it the caption is left empty rather than invented.

All three load from local Hugging Face folders; nothing is downloaded. One module (about 300 lines):
a single backend class whose parts share the loaded models, plus the tag list and two crop helpers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import torch
from numpy.typing import NDArray

from models.base import FrameAnnotation, Image, Labels, ObjectKind, Role
from models.errors import ModelUnavailable
from models.torch_utils import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    autocast_dtype,
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

DEFAULT_TAGS: tuple[str, ...] = (
    "1girl", "1boy", "2girls", "2boys", "multiple girls", "multiple boys", "solo", "group",
    "long hair", "short hair", "twintails", "ponytail", "blonde hair", "black hair", "brown hair",
    "blue hair", "pink hair", "red hair", "white hair", "silver hair", "green hair", "purple hair",
    "blue eyes", "red eyes", "green eyes", "smile", "open mouth", "closed eyes", "blush", "crying",
    "angry", "surprised", "school uniform", "serafuku", "suit", "dress", "armor", "hat", "glasses",
    "sword", "gun", "magic", "fire", "explosion", "lightning", "energy aura", "speed lines", "sparkles",
    "outdoors", "indoors", "sky", "night", "sunset", "city", "forest", "classroom", "water", "snow",
    "rain", "close-up", "full body", "upper body", "portrait", "from behind", "running", "fighting",
    "flying", "sitting", "standing", "mecha", "robot", "animal", "cat", "dog", "food", "vehicle",
)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _pooled(out: Any) -> torch.Tensor:
    """transformers 5 returns output objects from ``get_*_features``; 4.x returned tensors."""
    return out.pooler_output if hasattr(out, "pooler_output") else out


def _normalize(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x.float(), dim=-1)


def square_input(image: Image, size: int, mask: NDArray[np.bool_] | None = None) -> Image:
    """Pad ``image`` to a square (grey) and resize to ``size``; pixels outside ``mask`` become grey.

    Padding rather than center-cropping keeps a whole character in view; greying the background keeps
    identity embeddings about the character, not the scene behind it.
    """
    img = np.asarray(image)[..., :3].copy()
    if mask is not None:
        img[~mask] = 127
    h, w = img.shape[:2]
    side = max(h, w)
    canvas = np.full((side, side, 3), 127, np.uint8)
    canvas[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = img
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(canvas, (size, size), interpolation=interp).astype(np.uint8)


def character_crops(image: Image, labels: Labels, kinds: dict[int, ObjectKind], margin: float = 0.1) -> dict[int, Image]:
    """One masked crop per character object (bounding box plus ``margin``), keyed by object id."""
    crops: dict[int, Image] = {}
    h, w = labels.shape
    for obj, kind in sorted(kinds.items()):
        mask = labels == obj
        if kind != "character" or not mask.any():
            continue
        ys, xs = np.nonzero(mask)
        my, mx = int((ys.max() - ys.min() + 1) * margin), int((xs.max() - xs.min() + 1) * margin)
        y0, y1 = max(0, ys.min() - my), min(h, ys.max() + 1 + my)
        x0, x1 = max(0, xs.min() - mx), min(w, xs.max() + 1 + mx)
        crop = np.asarray(image)[y0:y1, x0:x1, :3].copy()
        crop[~mask[y0:y1, x0:x1]] = 127
        crops[obj] = crop
    return crops


def _preprocessing(folder: Path, size: int, mean: tuple[float, ...], std: tuple[float, ...]) -> tuple[int, tuple[float, ...], tuple[float, ...]]:
    pre = folder / "preprocessor_config.json"
    if not pre.is_file():
        return size, mean, std
    cfg = read_json(pre)
    side = config_side(cfg.get("crop_size"))
    return side or size, *image_stats(cfg, mean, std)


class ClipAnnotator:
    """Tags, caption and embeddings for one frame.

    Parameters
    ----------
    weights
        CLIP folder (``openai/clip-vit-*`` format, with tokenizer files).
    dinov2
        Optional DINOv2 folder for character identity embeddings.
    blip2
        Optional BLIP-2 folder (with processor files) for captions.
    tags
        Extra tags added to `DEFAULT_TAGS` (or replacing them with ``replace_tags=True``).
    top_k, min_prob
        At most ``top_k`` tags whose zero-shot probability is at least ``min_prob``.
    template
        Text prompt around each tag for CLIP.
    """

    name: ClassVar[str] = "clip"
    role: ClassVar[Role] = "annotator"

    def __init__(self, weights: Path | None = None, **options: Any) -> None:
        self.weights = Path(weights) if weights is not None else None
        self.dinov2_path = Path(options["dinov2"]) if options.get("dinov2") else None
        self.blip2_path = Path(options["blip2"]) if options.get("blip2") else None
        self.aesthetic_path = Path(options["aesthetic"]) if options.get("aesthetic") else None
        self.aesthetic: Any = None
        extra = [str(t) for t in options.get("tags", ())]
        self.tags: list[str] = extra if options.get("replace_tags") else list(dict.fromkeys([*DEFAULT_TAGS, *extra]))
        self.top_k = int(options.get("top_k", 8))
        self.min_prob = float(options.get("min_prob", 0.05))
        self.template = str(options.get("template", "an anime screenshot of {}"))
        self.max_caption_tokens = int(options.get("max_caption_tokens", 30))
        self.device = "cpu"
        self.clip: Any = None
        self.tokenizer: Any = None
        self.dino: Any = None
        self.blip: Any = None
        self.blip_processor: Any = None
        self.clip_pre: tuple[int, tuple[float, ...], tuple[float, ...]] = (224, CLIP_MEAN, CLIP_STD)
        self.dino_pre: tuple[int, tuple[float, ...], tuple[float, ...]] = (224, IMAGENET_MEAN, IMAGENET_STD)
        self._tag_emb: torch.Tensor | None = None

    # -- loading --------------------------------------------------------------------------------
    def load(self, device: str = "cpu") -> None:
        """Load CLIP and the configured optional parts; raises `ModelUnavailable` when one is broken."""
        from transformers import AutoTokenizer, CLIPModel

        folder = check_hf_folder(self.weights, "CLIP")
        self.device = pick_device(device)
        with hf_load_errors("CLIP", folder):
            self.clip = CLIPModel.from_pretrained(str(folder), local_files_only=True).eval().to(self.device)
            self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.clip_pre = _preprocessing(folder, int(self.clip.config.vision_config.image_size), CLIP_MEAN, CLIP_STD)
        if self.dinov2_path is not None:
            from transformers import Dinov2Model

            dfolder = check_hf_folder(self.dinov2_path, "DINOv2")
            with hf_load_errors("DINOv2", dfolder):
                self.dino = Dinov2Model.from_pretrained(str(dfolder), local_files_only=True).eval().to(self.device)
            self.dino_pre = _preprocessing(dfolder, 224, IMAGENET_MEAN, IMAGENET_STD)
        if self.blip2_path is not None:
            from transformers import AutoProcessor, Blip2ForConditionalGeneration

            bfolder = check_hf_folder(self.blip2_path, "BLIP-2")
            # 3.8 B parameters: load straight in bf16/fp16 on CUDA (15 GB in fp32 would not fit most cards).
            dtype = autocast_dtype(self.device) or torch.float32
            with hf_load_errors("BLIP-2", bfolder):
                self.blip = Blip2ForConditionalGeneration.from_pretrained(str(bfolder), local_files_only=True, dtype=dtype)
                self.blip = self.blip.eval().to(self.device)
                self.blip_processor = AutoProcessor.from_pretrained(str(bfolder), local_files_only=True)
        if self.aesthetic_path is not None:
            from models.aesthetic import load_aesthetic_head

            head = load_aesthetic_head(self.aesthetic_path)
            width = int(self.clip.config.projection_dim)
            if head.layers[0].in_features != width:
                raise ModelUnavailable(
                    f"The aesthetic predictor expects {head.layers[0].in_features}-d CLIP embeddings; this CLIP "
                    f"gives {width}-d (the published head needs CLIP ViT-L/14).")
            self.aesthetic = head.to(self.device)
        self._tag_emb = None

    @classmethod
    def build_random(cls, clip: str = "vit_l14", dinov2: str | None = "base", device: str = "cpu") -> ClipAnnotator:
        """A loaded annotator with real-size CLIP (and DINOv2) architectures, random weights (benchmarks)."""
        from transformers import CLIPConfig, CLIPModel, Dinov2Config, Dinov2Model

        from models.clipseg import simple_clip_tokenizer

        vision = {"vit_b16": {"patch_size": 16}, "vit_l14": {"patch_size": 14, "hidden_size": 1024,
                  "intermediate_size": 4096, "num_hidden_layers": 24, "num_attention_heads": 16}}[clip]
        ann = cls()
        ann.device = pick_device(device)
        ann.tokenizer = simple_clip_tokenizer()
        tok = ann.tokenizer
        text = {"vocab_size": len(tok), "eos_token_id": tok.eos_token_id, "bos_token_id": tok.bos_token_id,
                "pad_token_id": tok.pad_token_id}
        if clip == "vit_l14":
            text |= {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12}
        cfg = CLIPConfig(text_config=text, vision_config=vision, projection_dim=768 if clip == "vit_l14" else 512)
        ann.clip = CLIPModel(cfg).eval().to(ann.device)
        if dinov2 is not None:
            dims = {"small": (384, 6), "base": (768, 12), "large": (1024, 16)}[dinov2]
            dcfg = Dinov2Config(hidden_size=dims[0], num_attention_heads=dims[1], num_hidden_layers=24 if dinov2 == "large" else 12)
            ann.dino = Dinov2Model(dcfg).eval().to(ann.device)
        return ann

    def release(self) -> None:
        """Drop every model."""
        self.clip = self.tokenizer = self.dino = self.blip = self.blip_processor = self.aesthetic = None
        self._tag_emb = None
        release_memory(self.device)

    def set_tags(self, tags: Sequence[str]) -> None:
        """Replace the tag vocabulary (text embeddings are recomputed lazily)."""
        cleaned = list(dict.fromkeys(t.strip() for t in tags if t.strip()))
        if not cleaned:
            raise ValueError("the tag vocabulary is empty")
        self.tags, self._tag_emb = cleaned, None

    # -- pieces -------------------------------------------------------------------------------
    def _tag_embeddings(self) -> torch.Tensor:
        if self._tag_emb is None:
            texts = [self.template.format(t) for t in self.tags]
            chunks = []
            for start in range(0, len(texts), 64):
                tok = self.tokenizer(texts[start : start + 64], padding=True, truncation=True, return_tensors="pt",
                                     max_length=int(self.clip.config.text_config.max_position_embeddings))
                with inference(self.device):
                    chunks.append(_normalize(_pooled(self.clip.get_text_features(**tok.to(self.device)))))
            self._tag_emb = torch.cat(chunks)
        return self._tag_emb

    def clip_embed(self, images: Sequence[Image]) -> torch.Tensor:
        """L2-normalized CLIP image embeddings ``(N, D)`` of whole images (padded to squares)."""
        size, mean, std = self.clip_pre
        pixels = images_to_tensor([square_input(im, size) for im in images], mean, std).to(self.device)
        with inference(self.device):
            return _normalize(_pooled(self.clip.get_image_features(pixel_values=pixels)))

    def identity_embed(self, crops: Sequence[Image]) -> torch.Tensor:
        """L2-normalized identity embeddings of character crops: DINOv2 CLS when loaded, else CLIP."""
        if self.dino is None:
            return self.clip_embed(crops)
        size, mean, std = self.dino_pre
        pixels = images_to_tensor([square_input(c, size) for c in crops], mean, std).to(self.device)
        with inference(self.device):
            return _normalize(self.dino(pixel_values=pixels).pooler_output)

    def tag_scores(self, frame_embedding: torch.Tensor) -> dict[str, float]:
        """Zero-shot probability of every tag for one normalized frame embedding."""
        scale = float(self.clip.logit_scale.detach().exp())
        probs = (scale * frame_embedding.float() @ self._tag_embeddings().T).softmax(-1)
        return {t: float(p) for t, p in zip(self.tags, probs.cpu(), strict=True)}

    def caption(self, image: Image) -> str:
        """A BLIP-2 caption, or ``""`` when no BLIP-2 folder is configured."""
        if self.blip is None:
            return ""
        inputs = self.blip_processor(images=np.asarray(image)[..., :3], return_tensors="pt").to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.blip.dtype)
        with inference(self.device):
            ids = self.blip.generate(**inputs, max_new_tokens=self.max_caption_tokens, do_sample=False)
        return str(self.blip_processor.batch_decode(ids, skip_special_tokens=True)[0]).strip()

    # -- role -----------------------------------------------------------------------------------
    def annotate(self, image: Image, labels: Labels, kinds: dict[int, ObjectKind]) -> FrameAnnotation:
        """Tags (best first), caption, the CLIP frame embedding and per-character identity embeddings."""
        if self.clip is None:
            raise ModelUnavailable("The CLIP annotator is not loaded.")
        frame = self.clip_embed([image])[0]
        scores = self.tag_scores(frame)
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])[: self.top_k]
        tags = [t for t, p in ranked if p >= self.min_prob]
        crops = character_crops(image, labels, kinds)
        identities: dict[int, NDArray[np.float32]] = {}
        objects: dict[int, dict[str, Any]] = {}
        if crops:
            emb = self.identity_embed(list(crops.values())).cpu().numpy().astype(np.float32)
            identities = {obj: emb[i] for i, obj in enumerate(crops)}
            if self.aesthetic is not None:
                from models.aesthetic import SOURCE, aesthetic_scores, to_unit

                ratings = aesthetic_scores(self.aesthetic, self.clip_embed(list(crops.values())))
                objects = {obj: {"aesthetic": to_unit(float(r)), "aesthetic_rating": round(float(r), 3),
                                 "aesthetic_source": SOURCE} for obj, r in zip(crops, ratings, strict=True)}
        extra: dict[str, Any] = {"tag_scores": {t: round(p, 4) for t, p in ranked}, "character_embeddings": identities,
                                 "identity_model": "dinov2" if self.dino is not None else "clip"}
        if objects:
            extra["objects"] = objects
        return FrameAnnotation(
            tags=tags,
            caption=self.caption(image),
            embedding=frame.cpu().numpy().astype(np.float32),
            extra=extra,
        )
