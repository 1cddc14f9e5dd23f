"""CLIPSeg text-prompted effect separation (role ``effects``).

Each effect prompt ("fire", "lightning", ...) yields a soft map; the effect strength is the maximum over
prompts, with the characters' own pixels suppressed (an aura *around* a character is an effect, the
character is not). The image passes the CLIP vision tower once per frame and only the light decoder
runs once per prompt; prompt text embeddings are computed once and cached until the prompts change.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import torch

from models.base import Image, Mask, Role, SoftMap
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

DEFAULT_PROMPTS: tuple[str, ...] = ("fire", "lightning", "energy aura", "speed lines", "sparkles", "explosion", "glow")


def simple_clip_tokenizer() -> Any:
    """A character-level CLIP tokenizer (letters, digits) for random-weight models and tests; no download."""
    import string

    from transformers import CLIPTokenizer

    chars = string.ascii_lowercase + string.digits
    vocab = {c: i for i, c in enumerate(chars)} | {c + "</w>": len(chars) + i for i, c in enumerate(chars)}
    vocab |= {"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1}
    return CLIPTokenizer(vocab=vocab, merges=[])


class ClipSegEffectSeparator:
    """Effect strength from CLIPSeg (``CIDAS/clipseg-rd64-refined`` style local folder).

    Parameters
    ----------
    weights
        Folder with ``config.json``, ``model.safetensors`` and the CLIP tokenizer files.
    prompts
        Effect descriptions; editable later with `set_prompts`.
    floor
        Probabilities below this are treated as no effect (CLIPSeg leaves a low haze everywhere); the
        rest is rescaled to ``[0, 1]``.
    batch_size
        Frames per vision pass in `separate_batch`.
    """

    name: ClassVar[str] = "clipseg"
    role: ClassVar[Role] = "effects"

    def __init__(self, weights: Path | None = None, **options: Any) -> None:
        self.weights = Path(weights) if weights is not None else None
        self.prompts: list[str] = [str(p) for p in options.get("prompts", DEFAULT_PROMPTS)]
        self.floor = float(options.get("floor", 0.1))
        self.batch_size = int(options.get("batch_size", 4))
        self.device = "cpu"
        self.model: Any = None
        self.tokenizer: Any = None
        self.size = 352
        self.mean: tuple[float, ...] = IMAGENET_MEAN
        self.std: tuple[float, ...] = IMAGENET_STD
        self._text: torch.Tensor | None = None

    def load(self, device: str = "cpu") -> None:
        """Load model and tokenizer; raises `ModelUnavailable` when the folder is missing or corrupt."""
        folder = check_hf_folder(self.weights, "CLIPSeg")
        if not (folder / "tokenizer.json").is_file() and not (folder / "vocab.json").is_file():
            # AutoTokenizer would otherwise build an empty vocabulary and every prompt would read as nothing.
            raise ModelUnavailable(f"The CLIPSeg model folder {folder} has no tokenizer files.")
        from transformers import AutoTokenizer, CLIPSegForImageSegmentation

        with hf_load_errors("CLIPSeg", folder):
            model: Any = CLIPSegForImageSegmentation.from_pretrained(str(folder), local_files_only=True)
            self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        pre = folder / "preprocessor_config.json"
        cfg = read_json(pre) if pre.is_file() else {}
        self.mean, self.std = image_stats(cfg, IMAGENET_MEAN, IMAGENET_STD)
        # CIDAS checkpoints run at 352 px on a 224 px CLIP (position encodings are interpolated).
        self.size = config_side(cfg.get("size")) or int(model.config.vision_config.image_size)
        self.device = pick_device(device)
        self.model = model.eval().to(self.device)
        self._text = None

    @classmethod
    def build_random(cls, device: str = "cpu") -> ClipSegEffectSeparator:
        """A loaded separator with the real ``clipseg-rd64`` architecture and random weights (benchmarks)."""
        from transformers import CLIPSegConfig, CLIPSegForImageSegmentation

        sep = cls()
        sep.tokenizer = simple_clip_tokenizer()
        tok = sep.tokenizer
        cfg = CLIPSegConfig(text_config={"vocab_size": len(tok), "eos_token_id": tok.eos_token_id,
                                         "bos_token_id": tok.bos_token_id, "pad_token_id": tok.pad_token_id},
                            vision_config={"patch_size": 16}, reduce_dim=64)
        sep.device = pick_device(device)
        sep.model = CLIPSegForImageSegmentation(cfg).eval().to(sep.device)
        return sep

    def release(self) -> None:
        """Drop the model and cached prompt embeddings."""
        self.model, self.tokenizer, self._text = None, None, None
        release_memory(self.device)

    def set_prompts(self, prompts: Sequence[str]) -> None:
        """Replace the effect prompts (takes effect on the next frame)."""
        cleaned = [p.strip() for p in prompts if p.strip()]
        if not cleaned:
            raise ValueError("at least one effect prompt is needed")
        self.prompts, self._text = cleaned, None

    def _prompt_embeddings(self) -> torch.Tensor:
        if self._text is None:
            limit = int(self.model.config.text_config.max_position_embeddings)  # 77 for real CLIP
            tokens = self.tokenizer(self.prompts, padding=True, truncation=True, max_length=limit, return_tensors="pt")
            with inference(self.device):
                out = self.model.clip.get_text_features(**{k: v.to(self.device) for k, v in tokens.items()})
            self._text = out.pooler_output.float()
        return self._text

    def prompt_maps(self, images: Sequence[Image]) -> np.ndarray:
        """Per-prompt probabilities at model resolution: ``float32 (N, P, S, S)``."""
        if self.model is None:
            raise ModelUnavailable("The CLIPSeg model is not loaded.")
        text = self._prompt_embeddings()
        n_prompts = text.shape[0]
        square = [cv2.resize(np.asarray(im)[..., :3], (self.size, self.size), interpolation=cv2.INTER_AREA) for im in images]
        pixels = images_to_tensor(square, self.mean, self.std).to(self.device)
        with inference(self.device):
            vision = self.model.clip.get_image_features(
                pixel_values=pixels, output_hidden_states=True, interpolate_pos_encoding=True
            )
            acts = [vision.hidden_states[i + 1] for i in self.model.extract_layers]
            maps = []
            for b in range(len(images)):
                # Vision once per frame; the decoder runs over the prompts as a batch.
                per = [a[b : b + 1].expand(n_prompts, -1, -1) for a in acts]
                logits = self.model.decoder(per, text.to(acts[0].dtype)).logits.float()
                maps.append(logits.reshape(n_prompts, *logits.shape[-2:]).sigmoid())
        return torch.stack(maps).cpu().numpy()

    def separate_batch(self, images: Sequence[Image], character_masks: Sequence[Mask]) -> list[SoftMap]:
        """`separate` for several frames of one size."""
        out: list[SoftMap] = []
        for start in range(0, len(images), self.batch_size):
            chunk = list(range(start, min(start + self.batch_size, len(images))))
            probs = self.prompt_maps([images[i] for i in chunk]).max(axis=1)
            for i, p in zip(chunk, probs, strict=True):
                h, w = images[i].shape[:2]
                soft = cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR)
                soft = np.clip((soft - self.floor) / (1.0 - self.floor), 0.0, 1.0).astype(np.float32)
                soft[np.asarray(character_masks[i], bool)] = 0.0
                out.append(soft)
        return out

    def separate(self, image: Image, character_mask: Mask, plate: Image | None) -> SoftMap:
        """Effect strength ``float32 (H, W)`` in ``[0, 1]``; ``plate`` is not needed by this model."""
        return self.separate_batch([image], [character_mask])[0]
