"""Tiny-config tests for the transformers backends: Mask2Former, CLIPSeg, CLIP/DINOv2/BLIP-2 annotator.

Every model is built from a tiny config with random weights, saved with ``save_pretrained`` and loaded
back through the backend's own loader (``from_pretrained`` on a local folder), exactly as real weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from app.errors import ModelUnavailable

H, W = 48, 64


def _frame(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((H, W, 3), 200, np.uint8)
    img[8 + seed : 40, 10:30] = (220, 80, 60)
    return np.clip(img + rng.integers(0, 20, img.shape), 0, 255).astype(np.uint8)


# -- Mask2Former ------------------------------------------------------------------------------------
def _tiny_m2f(folder: Path, person_bias: float) -> Path:
    from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation, SwinConfig

    backbone = SwinConfig(embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], window_size=4,
                          out_features=["stage1", "stage2", "stage3", "stage4"])
    labels = {0: "person", 1: "tree", 2: "sky"}
    cfg = Mask2FormerConfig(backbone_config=backbone, feature_size=32, mask_feature_size=32, hidden_dim=32,
                            encoder_feedforward_dim=64, encoder_layers=1, decoder_layers=2, num_attention_heads=2,
                            dim_feedforward=64, num_queries=8, id2label=labels, label2id={v: k for k, v in labels.items()})
    torch.manual_seed(0)
    model = Mask2FormerForUniversalSegmentation(cfg)
    with torch.no_grad():
        # Random init gives near-zero mask logits; sharpen them and steer the classes so segments exist.
        model.class_predictor.weight.zero_()
        model.class_predictor.bias.copy_(torch.tensor([person_bias, 0.0, 0.0, -5.0]))
        for p in model.model.transformer_module.decoder.mask_predictor.mask_embedder.layers[-1].parameters():
            p.mul_(200.0)
    model.save_pretrained(folder)
    return folder


def test_person_like_ids() -> None:
    from models.mask2former import person_like_ids

    ade = {0: "wall", 12: "person;individual;someone;somebody;mortal;soul", 20: "car;auto"}
    assert person_like_ids(ade) == {12}
    assert person_like_ids({0: "person", 1: "bicycle", 2: "personal"}) == {0}


def test_panoptic_merge_matches_reference() -> None:
    from transformers.models.mask2former.image_processing_pil_mask2former import compute_segments

    from models.mask2former import panoptic_labels

    torch.manual_seed(1)
    q, n_cls = 6, 3
    cls_logits = torch.randn(q, n_cls + 1) * 3
    small = torch.randn(1, q, 6, 6) * 6
    masks = torch.nn.functional.interpolate(small, size=(384, 384), mode="bilinear", align_corners=False)[0]
    labels, conf, scores = panoptic_labels(cls_logits, masks, {0, 2}, threshold=0.3, overlap=0.5)

    s, c = cls_logits.softmax(-1).max(-1)
    keep = (s > 0.3) & (c != n_cls)
    ref, segments = compute_segments(masks.sigmoid()[keep], s[keep], c[keep], 0.5, 0.5, set(), None)
    want = np.zeros((384, 384), bool)
    for seg in segments:
        if seg["label_id"] in (0, 2):
            want |= ref.numpy() == seg["id"]
    assert len(scores) == sum(seg["label_id"] in (0, 2) for seg in segments) > 0
    assert np.array_equal(labels > 0, want)
    assert conf.dtype == np.float32 and 0 <= conf.min() and conf.max() <= 1


def test_mask2former_segments_two_frames(tmp_path: Path) -> None:
    from models.mask2former import Mask2FormerSegmenter

    seg = Mask2FormerSegmenter(_tiny_m2f(tmp_path / "m2f", person_bias=8.0), short_side=64, batch_size=2, overlap=0.0)
    seg.load("cpu")
    out = seg.segment_shot([_frame(0), _frame(1), _frame(2)])
    assert len(out) == 3
    for fs in out:
        assert fs.labels.dtype == np.uint8 and fs.labels.shape == (H, W)
        assert fs.labels.any(), "steered tiny model must produce character segments"
        assert set(fs.kinds) == set(np.unique(fs.labels)) - {0}
        assert set(fs.kinds.values()) == {"character"}
        assert fs.confidence is not None and fs.confidence.shape == (H, W)


def test_mask2former_non_person_classes_are_background(tmp_path: Path) -> None:
    from models.mask2former import Mask2FormerSegmenter

    seg = Mask2FormerSegmenter(_tiny_m2f(tmp_path / "m2f", person_bias=-8.0), short_side=64, overlap=0.0)
    seg.load()
    (fs,) = seg.segment_shot([_frame(0)])
    assert not fs.labels.any() and fs.kinds == {}


def test_mask2former_missing_folder(tmp_path: Path) -> None:
    from models.mask2former import Mask2FormerSegmenter

    with pytest.raises(ModelUnavailable):
        Mask2FormerSegmenter(None).load()
    with pytest.raises(ModelUnavailable, match="config.json"):
        Mask2FormerSegmenter(tmp_path).load()
