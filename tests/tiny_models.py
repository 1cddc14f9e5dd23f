"""Tiny random models in the official on-disk formats of every deep backend, for tests.

Each ``write_<model>(target)`` writes one artifact exactly as its publisher lays it out (key names,
prefixes, container, file set), only with tiny widths and random weights, so it goes through the same
loaders as the real download. `TINY_WRITERS` maps every catalog entry name to its writer and
`install_tiny` installs one through `models.manager.ModelManager.install_local`, the offline install path
a user takes with ``celstudio models install NAME FILE``.

Two catalog entries carry a *published* checksum (``sam-*`` SHA-256, ``big-lama`` MD5) that no tiny file
can match, so the manager refuses them by design; `catalog_without_published_checksums` gives a catalog
identical except for those checksum fields, for tests that need those backends installed.
"""

from __future__ import annotations

import dataclasses
import json
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from models.catalog import CATALOG, ModelEntry
from models.manager import ModelManager

Writer = Callable[[Path], Path]

# -- single-file checkpoints --------------------------------------------------------------------------


def _save_state(path: Path, net: torch.nn.Module, prefix: str = "", extra: dict[str, torch.Tensor] | None = None) -> Path:
    state: dict[str, torch.Tensor] = {prefix + k: v for k, v in net.state_dict().items()}
    state.update(extra or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def write_u2net(path: Path) -> Path:
    """``u2net.pth``: the full U^2-Net state dict at 1/8 width (plain keys, as the official release)."""
    from models.u2net import build_random

    torch.manual_seed(0)
    return _save_state(path, build_random(small=False, div=8))


def write_isnet_anime(path: Path) -> Path:
    """``isnetis.ckpt`` (SkyTNT anime-segmentation): weights under ``net.`` plus a training-only encoder."""
    from models.isnet import build_random

    torch.manual_seed(0)
    gt = {"gt_encoder.conv_in.weight": torch.zeros(8, 1, 3, 3)}
    return _save_state(path, build_random(div=8), "net.", gt)


def write_isnet_general(path: Path) -> Path:
    """``isnet-general-use.pth`` (DIS): plain IS-Net keys at 1/8 width."""
    from models.isnet import build_random

    torch.manual_seed(0)
    return _save_state(path, build_random(div=8))


def write_modnet(path: Path) -> Path:
    """``modnet_*.ckpt``: the official checkpoint is a DataParallel state dict (``module.`` prefix)."""
    from models.modnet import build_random

    torch.manual_seed(0)
    return _save_state(path, build_random(hr_channels=8, alpha=0.25), "module.")


XMEM_TINY: dict[str, int] = {"base": 4, "key_dim": 16, "value_dim": 32, "hidden_dim": 8}


def write_xmem(path: Path) -> Path:
    """``XMem.pth``: the official key layout (``key_encoder.*``, ``value_encoder.*``, ...) at tiny widths."""
    from models.xmem.network import build_random

    torch.manual_seed(0)
    return _save_state(path, build_random(**XMEM_TINY))


SAM_TINY: dict[str, Any] = {
    "embed_dim": 32, "patch_size": 16, "img_size": 128, "depth": 2, "num_heads": 2, "global_attn": (1,),
    "window_size": 4, "mlp_ratio": 2.0, "out_chans": 32, "mask_in_chans": 8, "decoder_depth": 1,
    "decoder_mlp_dim": 64, "num_multimask": 3, "iou_head_depth": 2, "iou_head_hidden": 32,
}


def write_sam(path: Path) -> Path:
    """``sam_vit_*.pth``: segment-anything's own ``Sam`` state dict with a tiny image encoder."""
    from models.sam.architecture import build_official

    torch.manual_seed(0)
    model = build_official(SAM_TINY)
    with torch.no_grad():
        for p in model.parameters():  # non-zero everywhere, so every key carries real values
            p.normal_(0, 0.2)
    return _save_state(path, model)


class _ScriptedLama(torch.nn.Module):
    """The forward of the lama-cleaner TorchScript export: ``(image, mask) -> composited image``."""

    def __init__(self, generator: torch.nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pred = self.generator(torch.cat([image * (1 - mask), mask], 1))
        return mask * pred + (1 - mask) * image


def write_big_lama(path: Path) -> Path:
    """``big-lama.pt``: a traced TorchScript module like the lama-cleaner / IOPaint release."""
    from models.lama_network import build_random

    torch.manual_seed(0)
    wrapped = _ScriptedLama(build_random(ngf=8, n_blocks=2)).eval()
    example = (torch.rand(1, 3, 40, 48), torch.zeros(1, 1, 40, 48))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.trace(wrapped, example, check_trace=False).save(str(path))
    return path


# -- Hugging Face folders -----------------------------------------------------------------------------
_CHARS = string.ascii_lowercase + string.digits
_BOS, _EOS = "<|startoftext|>", "<|endoftext|>"


def clip_vocab() -> dict[str, int]:
    """A character-level CLIP BPE vocabulary (letters, digits, their word-final forms, BOS/EOS)."""
    vocab = {c: i for i, c in enumerate(_CHARS)} | {c + "</w>": len(_CHARS) + i for i, c in enumerate(_CHARS)}
    return vocab | {_BOS: len(vocab), _EOS: len(vocab) + 1}


def write_clip_tokenizer(folder: Path, *, with_tokenizer_json: bool = True) -> None:
    """The tokenizer files of an ``openai/clip-*`` repository: vocab.json, merges.txt, the two configs.

    ``transformers`` 5 ``save_pretrained`` writes only ``tokenizer.json`` + ``tokenizer_config.json``;
    the published repositories (and so the catalog) also have the slow-tokenizer files, written here.
    """
    from transformers import CLIPTokenizer

    vocab = clip_vocab()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab), "utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", "utf-8")  # no merges: character-level
    special = {"bos_token": _BOS, "eos_token": _EOS, "unk_token": _EOS, "pad_token": _EOS}
    (folder / "special_tokens_map.json").write_text(json.dumps(special), "utf-8")
    config = {"tokenizer_class": "CLIPTokenizer", "model_max_length": 64, **special}
    (folder / "tokenizer_config.json").write_text(json.dumps(config), "utf-8")
    if with_tokenizer_json:
        CLIPTokenizer(vocab=vocab, merges=[]).backend_tokenizer.save(str(folder / "tokenizer.json"))


def _text_config() -> dict[str, Any]:
    vocab = clip_vocab()
    return {"vocab_size": len(vocab), "bos_token_id": vocab[_BOS], "eos_token_id": vocab[_EOS],
            "pad_token_id": vocab[_EOS], "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 2, "max_position_embeddings": 64}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=1), "utf-8")


def write_mask2former(folder: Path, person_bias: float = 8.0, mask_gain: float = 1e4) -> Path:
    """A ``facebook/mask2former-swin-*-coco-panoptic`` folder, steered so "person" segments exist
    (``person_bias`` > 0) or do not (< 0); ``mask_gain`` sharpens the random mask logits."""
    from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation, SwinConfig

    stages: dict[str, Any] = {"out_features": ["stage1", "stage2", "stage3", "stage4"]}
    backbone = SwinConfig(embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], window_size=4, **stages)
    labels = {0: "person", 1: "tree", 2: "sky"}
    cfg = Mask2FormerConfig(backbone_config=backbone, feature_size=32, mask_feature_size=32, hidden_dim=32,
                            encoder_feedforward_dim=64, encoder_layers=1, decoder_layers=2, num_attention_heads=2,
                            dim_feedforward=64, num_queries=8, id2label=labels, label2id={v: k for k, v in labels.items()})
    torch.manual_seed(0)
    model = Mask2FormerForUniversalSegmentation(cfg)
    with torch.no_grad():
        # Random init gives near-zero mask logits; sharpen them and steer the classes.
        model.class_predictor.weight.zero_()
        model.class_predictor.bias.copy_(torch.tensor([person_bias, 0.0, 0.0, -5.0]))
        for p in model.model.transformer_module.decoder.mask_predictor.mask_embedder.layers[-1].parameters():
            p.mul_(mask_gain)
    model.save_pretrained(folder)
    _write_json(folder / "preprocessor_config.json", {
        "image_processor_type": "Mask2FormerImageProcessor", "size": {"shortest_edge": 64},
        "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225], "do_normalize": True,
    })
    return folder


def write_clipseg(folder: Path) -> Path:
    """A ``CIDAS/clipseg-rd64-refined`` folder at tiny widths (64 px input, character tokenizer)."""
    from transformers import CLIPSegConfig, CLIPSegForImageSegmentation

    cfg = CLIPSegConfig(
        text_config=_text_config(),
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": 64, "patch_size": 8},
        projection_dim=16, extract_layers=[0, 1], reduce_dim=16, decoder_num_attention_heads=2,
        decoder_intermediate_size=32,
    )
    torch.manual_seed(0)
    CLIPSegForImageSegmentation(cfg).save_pretrained(folder)
    write_clip_tokenizer(folder, with_tokenizer_json=True)
    _write_json(folder / "preprocessor_config.json", {
        "image_processor_type": "ViTImageProcessor", "size": 64, "do_normalize": True,
        "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
    })
    return folder


def write_clip(folder: Path) -> Path:
    """An ``openai/clip-vit-*`` folder at tiny widths (32 px input); no ``tokenizer.json`` (optional)."""
    from transformers import CLIPConfig, CLIPModel

    cfg = CLIPConfig(
        text_config=_text_config(),
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    torch.manual_seed(0)
    CLIPModel(cfg).save_pretrained(folder)
    write_clip_tokenizer(folder, with_tokenizer_json=False)
    _write_json(folder / "preprocessor_config.json", {
        "image_processor_type": "CLIPImageProcessor", "crop_size": {"height": 32, "width": 32},
        "size": {"shortest_edge": 32}, "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
    })
    return folder


def write_dinov2(folder: Path) -> Path:
    """A ``facebook/dinov2-*`` folder at tiny widths (28 px crops, patch 14)."""
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    Dinov2Model(Dinov2Config(hidden_size=24, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2,
                             image_size=28, patch_size=14)).save_pretrained(folder)
    _write_json(folder / "preprocessor_config.json", {
        "image_processor_type": "BitImageProcessor", "crop_size": {"height": 28, "width": 28},
        "size": {"shortest_edge": 32}, "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
    })
    return folder


# -- the catalog side ---------------------------------------------------------------------------------
TINY_WRITERS: dict[str, Writer] = {
    "sam-vit-b": write_sam, "sam-vit-l": write_sam, "sam-vit-h": write_sam,
    "xmem": write_xmem,
    "big-lama": write_big_lama,
    "u2net": write_u2net,
    "isnet-anime": write_isnet_anime,
    "isnet-general": write_isnet_general,
    "modnet": write_modnet,
    "mask2former-swin-tiny": write_mask2former, "mask2former-swin-large": write_mask2former,
    "clipseg": write_clipseg,
    "clip-vit-base-patch32": write_clip, "clip-vit-large-patch14": write_clip,
    "dinov2-small": write_dinov2, "dinov2-base": write_dinov2,
}


def write_tiny(name: str, scratch: Path) -> Path:
    """Write the tiny artifact of catalog entry ``name`` under ``scratch`` with its published file name."""
    entry = next(e for e in CATALOG if e.name == name)
    return TINY_WRITERS[name](scratch / name / entry.filename)


def install_tiny(manager: ModelManager, name: str, scratch: Path) -> Path:
    """Write the tiny artifact of ``name`` and install it with `ModelManager.install_local`."""
    return manager.install_local(name, write_tiny(name, scratch))


def catalog_without_published_checksums(names: tuple[str, ...] = ("sam-vit-b", "sam-vit-l", "sam-vit-h", "big-lama")) -> tuple[ModelEntry, ...]:
    """`CATALOG` with the published SHA-256 / MD5 of ``names`` removed (trust on first use instead)."""
    return tuple(dataclasses.replace(e, sha256=None, md5=None) if e.name in names else e for e in CATALOG)
