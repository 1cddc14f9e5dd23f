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
    from tiny_models import write_mask2former

    return write_mask2former(folder, person_bias=person_bias, mask_gain=200.0)


def test_person_like_ids() -> None:
    from models.mask2former import person_like_ids

    ade = {0: "wall", 12: "person;individual;someone;somebody;mortal;soul", 20: "car;auto"}
    assert person_like_ids(ade) == {12}
    assert person_like_ids({0: "person", 1: "bicycle", 2: "personal"}) == {0}


@pytest.mark.parametrize("target", [(90, 160), (400, 300)])
def test_panoptic_merge_matches_transformers(target: tuple[int, int]) -> None:
    """Our post-processing against transformers' own ``post_process_panoptic_segmentation`` at a
    16:9 target size (mask logits at 1/4 of a padded input, as the model returns them)."""
    from types import SimpleNamespace

    from transformers.models.mask2former.image_processing_pil_mask2former import Mask2FormerImageProcessorPil

    from models.mask2former import panoptic_labels

    torch.manual_seed(1)
    q, n_cls = 8, 3
    cls_logits = torch.randn(1, q, n_cls + 1) * 3
    small = torch.randn(1, q, 6, 10) * 6
    masks = torch.nn.functional.interpolate(small, size=(24, 40), mode="bilinear", align_corners=False)
    labels, conf, scores = panoptic_labels(cls_logits[0], masks[0], {0, 2}, target, threshold=0.3, overlap=0.5, band=32)

    outputs = SimpleNamespace(class_queries_logits=cls_logits, masks_queries_logits=masks)
    (ref,) = Mask2FormerImageProcessorPil().post_process_panoptic_segmentation(
        outputs, threshold=0.3, overlap_mask_area_threshold=0.5, label_ids_to_fuse=set(), target_sizes=[target])
    seg = ref["segmentation"].numpy()
    chars = [s for s in ref["segments_info"] if s["label_id"] in (0, 2)]
    assert len(scores) == len(chars) > 0 and labels.shape == target
    for ours_id, s in enumerate(chars, start=1):  # same segments, same order, same pixels
        a, b = labels == ours_id, seg == s["id"]
        assert (a & b).sum() / (a | b).sum() >= 0.999
        assert scores[ours_id - 1] == pytest.approx(s["score"], abs=1e-6)
    assert conf.dtype == np.float32 and conf.min() >= 0 and conf.max() <= 1


@pytest.mark.parametrize(("shape", "sizes"), [((1080, 1920), (800, 1333)), ((90, 160), (64, 1333)), ((200, 90), (64, 100))])
def test_mask2former_pixels_match_the_image_processor(shape: tuple[int, int], sizes: tuple[int, int]) -> None:
    from transformers.models.mask2former.image_processing_pil_mask2former import Mask2FormerImageProcessorPil

    from models.mask2former import Mask2FormerSegmenter

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    seg = Mask2FormerSegmenter(short_side=sizes[0], long_side=sizes[1])
    ours = seg.pixels([frame])
    proc = Mask2FormerImageProcessorPil(size={"shortest_edge": sizes[0], "longest_edge": sizes[1]})
    ref = proc(images=[frame], return_tensors="pt")["pixel_values"]
    assert ours.shape == ref.shape
    assert float((ours - ref).abs().max()) < 1e-5


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
    import json

    from models.mask2former import Mask2FormerSegmenter

    folder = _tiny_m2f(tmp_path / "m2f", person_bias=-8.0)
    pre = {"size": {"shortest_edge": 64}, "image_mean": [123.675, 116.28, 103.53], "image_std": [58.395, 57.12, 57.375]}
    (folder / "preprocessor_config.json").write_text(json.dumps(pre))
    seg = Mask2FormerSegmenter(folder, overlap=0.0)
    seg.load()
    assert seg.short_side == 64 and seg.mean[0] == pytest.approx(0.485)  # 0..255 stats are rescaled
    (fs,) = seg.segment_shot([_frame(0)])
    assert not fs.labels.any() and fs.kinds == {}


def test_mask2former_missing_folder(tmp_path: Path) -> None:
    from models.mask2former import Mask2FormerSegmenter

    with pytest.raises(ModelUnavailable):
        Mask2FormerSegmenter(None).load()
    with pytest.raises(ModelUnavailable, match=r"config\.json"):
        Mask2FormerSegmenter(tmp_path).load()


# -- CLIPSeg ----------------------------------------------------------------------------------------
def _tiny_tokenizer_kwargs(tok: Any) -> dict[str, Any]:
    return {"vocab_size": len(tok), "eos_token_id": tok.eos_token_id, "bos_token_id": tok.bos_token_id,
            "pad_token_id": tok.pad_token_id, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 2, "max_position_embeddings": 64}


@pytest.fixture(scope="module")
def clipseg_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import CLIPSegConfig, CLIPSegForImageSegmentation

    from models.clipseg import simple_clip_tokenizer

    folder = tmp_path_factory.mktemp("clipseg") / "clipseg-tiny"
    tok = simple_clip_tokenizer()
    cfg = CLIPSegConfig(
        text_config=_tiny_tokenizer_kwargs(tok),
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": 64, "patch_size": 8},
        projection_dim=16, extract_layers=[0, 1], reduce_dim=16, decoder_num_attention_heads=2,
        decoder_intermediate_size=32,
    )
    torch.manual_seed(0)
    CLIPSegForImageSegmentation(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_clipseg_vision_once_matches_full_forward(clipseg_folder: Path) -> None:
    from models.clipseg import ClipSegEffectSeparator
    from models.torch_utils import images_to_tensor

    sep = ClipSegEffectSeparator(clipseg_folder, prompts=["fire", "glow", "speed lines"])
    sep.load("cpu")
    img = _frame(0)
    maps = sep.prompt_maps([img])
    assert maps.shape == (1, 3, 64, 64)
    # Reference: the model's own forward with the image repeated per prompt and the tokenized text.
    import cv2

    tokens = sep.tokenizer(["fire", "glow", "speed lines"], padding=True, return_tensors="pt")
    pixels = images_to_tensor([cv2.resize(img, (64, 64), interpolation=cv2.INTER_AREA)] * 3, sep.mean, sep.std)
    with torch.inference_mode():
        ref = sep.model(pixel_values=pixels, **tokens).logits.sigmoid().numpy()
    np.testing.assert_allclose(maps[0], ref, atol=1e-5)


def test_clipseg_separate_suppresses_characters(clipseg_folder: Path) -> None:
    from models.clipseg import ClipSegEffectSeparator

    sep = ClipSegEffectSeparator(clipseg_folder, floor=0.0)
    sep.load()
    img = _frame(1)
    free = sep.separate(img, np.zeros((H, W), bool), None)
    char = np.zeros((H, W), bool)
    char[10:30, 10:40] = True
    masked = sep.separate(img, char, None)
    assert free.dtype == np.float32 and free.shape == (H, W)
    assert free.min() >= 0.0 and free.max() <= 1.0 and free.max() > 0.0
    assert not masked[char].any()
    np.testing.assert_allclose(masked[~char], free[~char], atol=1e-6)
    # The soft map is the max over prompts: one prompt alone can never exceed the full set.
    sep.set_prompts(["fire"])
    only_fire = sep.separate(img, np.zeros((H, W), bool), None)
    assert (only_fire <= free + 1e-5).all() and not np.allclose(only_fire, free)
    two = sep.separate_batch([img, _frame(2)], [char, char])
    np.testing.assert_allclose(two[0], sep.separate(img, char, None), atol=1e-5)
    with pytest.raises(ValueError):
        sep.set_prompts(["  "])


def test_clipseg_missing_tokenizer_is_unavailable(clipseg_folder: Path, tmp_path: Path) -> None:
    from models.clipseg import ClipSegEffectSeparator

    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).write_bytes((clipseg_folder / name).read_bytes())
    with pytest.raises(ModelUnavailable):
        ClipSegEffectSeparator(tmp_path).load()


# -- CLIP / DINOv2 annotator ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clip_folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    import json

    from transformers import CLIPConfig, CLIPModel, Dinov2Config, Dinov2Model

    from models.clipseg import simple_clip_tokenizer

    root = tmp_path_factory.mktemp("annot")
    tok = simple_clip_tokenizer()
    cfg = CLIPConfig(
        text_config=_tiny_tokenizer_kwargs(tok),
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    torch.manual_seed(0)
    CLIPModel(cfg).save_pretrained(root / "clip")
    tok.save_pretrained(root / "clip")
    dino = Dinov2Model(Dinov2Config(hidden_size=24, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2,
                                    image_size=28, patch_size=14))
    dino.save_pretrained(root / "dinov2")
    pre = {"crop_size": {"height": 28, "width": 28}, "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}
    (root / "dinov2" / "preprocessor_config.json").write_text(json.dumps(pre))
    return root / "clip", root / "dinov2"


def _scene(dx: int) -> tuple[np.ndarray, np.ndarray]:
    img = np.full((H, W, 3), 90, np.uint8)
    labels = np.zeros((H, W), np.uint8)
    labels[10:30, 5 + dx : 20 + dx] = 1  # character
    img[10:30, 5 + dx : 20 + dx] = (250, 200, 40)
    img[12:16, 8 + dx : 12 + dx] = (20, 20, 200)
    labels[35:45, 40:60] = 2  # effect, not embedded
    img[35:45, 40:60] = 255
    return img, labels


def test_clip_tags_match_reference_logits(clip_folders: tuple[Path, Path]) -> None:
    from models.annotators import DEFAULT_TAGS, ClipAnnotator, square_input
    from models.torch_utils import images_to_tensor

    ann = ClipAnnotator(clip_folders[0], tags=["catgirl"], top_k=5, min_prob=0.0)
    ann.load("cpu")
    assert ann.tags[: len(DEFAULT_TAGS)] == list(DEFAULT_TAGS) and ann.tags[-1] == "catgirl"
    img, labels = _scene(0)
    result = ann.annotate(img, labels, {1: "character", 2: "effect"})
    scores = ann.tag_scores(torch.from_numpy(result.embedding))
    assert sum(scores.values()) == pytest.approx(1.0, abs=1e-4)
    best = sorted(scores, key=lambda t: -scores[t])[:5]
    assert result.tags == best and result.caption == ""
    assert result.embedding is not None and result.embedding.shape == (16,)
    assert np.linalg.norm(result.embedding) == pytest.approx(1.0, abs=1e-5)
    # Reference: CLIPModel's own forward over the same inputs gives the same tag probabilities.
    tok = ann.tokenizer([ann.template.format(t) for t in ann.tags], padding=True, return_tensors="pt")
    pixels = images_to_tensor([square_input(img, 32)], ann.clip_pre[1], ann.clip_pre[2])
    with torch.inference_mode():
        ref = ann.clip(pixel_values=pixels, **tok).logits_per_image.softmax(-1)[0].numpy()
    np.testing.assert_allclose([scores[t] for t in ann.tags], ref, atol=1e-4)
    ann.set_tags(["fire", "sky"])
    two_tags = ann.annotate(img, labels, {}).extra["tag_scores"]
    assert isinstance(two_tags, dict) and two_tags.keys() == {"fire", "sky"}


def test_dinov2_character_embeddings(clip_folders: tuple[Path, Path]) -> None:
    from models.annotators import ClipAnnotator

    ann = ClipAnnotator(clip_folders[0], dinov2=clip_folders[1])
    ann.load()
    a = ann.annotate(*_scene(0), {1: "character", 2: "effect"})
    b = ann.annotate(*_scene(12), {1: "character", 2: "effect"})
    assert a.extra["identity_model"] == "dinov2"
    emb_a, emb_b = a.extra["character_embeddings"], b.extra["character_embeddings"]
    assert isinstance(emb_a, dict) and isinstance(emb_b, dict)
    assert set(emb_a) == {1} and emb_a[1].shape == (24,) and emb_a[1].dtype == np.float32
    assert np.linalg.norm(emb_a[1]) == pytest.approx(1.0, abs=1e-5)
    # The same character moved across the frame gives the same crop, hence the same identity vector.
    np.testing.assert_allclose(emb_a[1], emb_b[1], atol=1e-5)
    img, labels = _scene(0)
    img[10:30, 5:20] = (30, 160, 90)  # a differently coloured character
    other = ann.annotate(img, labels, {1: "character"}).extra["character_embeddings"]
    assert isinstance(other, dict) and not np.allclose(other[1], emb_a[1], atol=1e-3)


def test_annotator_without_dinov2_uses_clip_for_identity(clip_folders: tuple[Path, Path]) -> None:
    from models.annotators import ClipAnnotator

    ann = ClipAnnotator(clip_folders[0], replace_tags=True, tags=["a", "b"])
    ann.load()
    out = ann.annotate(*_scene(0), {1: "character"})
    emb = out.extra["character_embeddings"]
    assert out.extra["identity_model"] == "clip" and isinstance(emb, dict) and emb[1].shape == (16,)
    assert set(out.tags) <= {"a", "b"}


def test_annotator_missing_parts(clip_folders: tuple[Path, Path], tmp_path: Path) -> None:
    from models.annotators import ClipAnnotator

    with pytest.raises(ModelUnavailable):
        ClipAnnotator(None).load()
    with pytest.raises(ModelUnavailable, match="DINOv2"):
        ClipAnnotator(clip_folders[0], dinov2=tmp_path / "missing").load()
    with pytest.raises(ModelUnavailable, match="BLIP-2"):
        ClipAnnotator(clip_folders[0], blip2=tmp_path).load()


def _tiny_blip2(folder: Path) -> Path:
    import string

    from transformers import (
        Blip2Config,
        Blip2ForConditionalGeneration,
        Blip2Processor,
        GPT2Tokenizer,
        OPTConfig,
    )
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2} | {c: 3 + i for i, c in enumerate(string.ascii_lowercase + "Ġ")}
    tok = GPT2Tokenizer(vocab=vocab, merges=[], unk_token="<unk>", bos_token="</s>", eos_token="</s>", pad_token="<pad>")
    tok.add_tokens(["<image>"], special_tokens=True)
    proc = Blip2Processor(image_processor=BlipImageProcessorPil(size={"height": 32, "width": 32}), tokenizer=tok,
                          num_query_tokens=4)
    text = OPTConfig(vocab_size=len(tok), hidden_size=32, ffn_dim=64, num_hidden_layers=1, num_attention_heads=2,
                     word_embed_proj_dim=32, max_position_embeddings=64, pad_token_id=0, bos_token_id=1, eos_token_id=1)
    cfg = Blip2Config(
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 32, "patch_size": 8},
        qformer_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                        "encoder_hidden_size": 32, "vocab_size": 50},
        text_config=text.to_dict(), num_query_tokens=4, image_token_index=int(tok.convert_tokens_to_ids("<image>")),  # type: ignore[arg-type]
    )
    torch.manual_seed(0)
    model = Blip2ForConditionalGeneration(cfg)
    with torch.no_grad():
        # Steer the random language model to always say "a": constant final hidden state, one matching row.
        norm: Any = dict(model.named_modules())["language_model.model.decoder.final_layer_norm"]
        v = torch.randn(32)
        norm.weight.zero_()
        norm.bias.copy_(v)
        head: Any = model.get_output_embeddings()
        head.weight.zero_()
        head.weight[tok.convert_tokens_to_ids("a")] = v * 10
    model.save_pretrained(folder)
    proc.save_pretrained(folder)
    return folder


def test_blip2_caption(clip_folders: tuple[Path, Path], tmp_path: Path) -> None:
    from models.annotators import ClipAnnotator

    ann = ClipAnnotator(clip_folders[0], blip2=_tiny_blip2(tmp_path / "blip2"), max_caption_tokens=4)
    ann.load()
    out = ann.annotate(*_scene(0), {1: "character"})
    assert out.caption == "aaaa"
