"""SAM click segmenter: official checkpoints (tiny, real-size keys) and the Hugging Face format."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from app.errors import ModelUnavailable
from models.base import Prompt
from models.sam import SamClicker
from models.sam.architecture import build_official, official_arch, sam_architecture, sam_modeling
from models.sam.engines import Geometry, prior_to_logits, resize_longest

TINY: dict[str, Any] = {
    "embed_dim": 32, "patch_size": 16, "img_size": 128, "depth": 2, "num_heads": 2, "global_attn": (1,),
    "window_size": 4, "mlp_ratio": 2.0, "out_chans": 32, "mask_in_chans": 8, "decoder_depth": 1,
    "decoder_mlp_dim": 64, "num_multimask": 3, "iou_head_depth": 2, "iou_head_hidden": 32,
}
H, W = 48, 64


def _image(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((H, W, 3), 230, np.uint8)
    img[10:40, 20:44] = (200, 60, 50)  # a flat "character" block on a light background
    return np.clip(img.astype(int) + rng.integers(-5, 6, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def tiny_pth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = build_official(TINY)
    for p in model.parameters():  # non-zero rel-pos tables so every key carries real values
        p.data.normal_(0, 0.2)
    path = tmp_path_factory.mktemp("sam") / "sam_tiny.pth"
    torch.save(model.state_dict(), path)
    return path


def test_modeling_import_skips_package_init() -> None:
    had_pkg = "segment_anything" in sys.modules
    modeling = sam_modeling()
    assert hasattr(modeling, "Sam") and hasattr(modeling, "ImageEncoderViT")
    assert "torchvision" not in sys.modules
    assert ("segment_anything" in sys.modules) == had_pkg  # the bare package was not left behind


def test_architecture_is_read_from_shapes(tiny_pth: Path) -> None:
    state = torch.load(tiny_pth, weights_only=True)
    arch = sam_architecture(state)
    assert arch.pop("variant") == "custom"
    assert arch == TINY


@pytest.mark.parametrize(("size", "params_m"), [("vit_b", 93.7), ("vit_l", 312.3), ("vit_h", 641.1)])
def test_official_variant_keys_and_shapes(size: str, params_m: float) -> None:
    with torch.device("meta"):  # real key names and shapes without allocating memory
        state = build_official(official_arch(size)).state_dict()
    assert "image_encoder.blocks.0.attn.rel_pos_h" in state and "mask_decoder.mask_tokens.weight" in state
    assert sam_architecture(state) == official_arch(size)
    assert sum(t.numel() for t in state.values()) / 1e6 == pytest.approx(params_m, rel=0.02)


def test_official_predict_matches_reference_forward(tiny_pth: Path) -> None:
    clicker = SamClicker(tiny_pth)
    clicker.load("cpu")
    assert clicker.variant == "custom"
    img = _image()
    prompt = Prompt(points=((30.0, 25.0, True), (5.0, 5.0, False)))
    mask = clicker.predict("f0", img, prompt, None)
    assert mask.dtype == np.bool_ and mask.shape == (H, W)

    # Reference: segment-anything's own Sam.forward on the same resized image and transformed clicks.

    assert clicker.engine is not None
    model = clicker.engine.model
    resized, geom = resize_longest(img, TINY["img_size"])
    scale = np.array([geom.input_hw[1] / W, geom.input_hw[0] / H], np.float32)
    coords = torch.tensor([[30.0, 25.0], [5.0, 5.0]]) * torch.from_numpy(scale)
    batch = [{
        "image": torch.from_numpy(np.array(resized)).permute(2, 0, 1).float(), "original_size": (H, W),
        "point_coords": coords[None], "point_labels": torch.tensor([[1, 0]]),
    }]
    with torch.inference_mode():
        out = model(batch, multimask_output=False)[0]
    ref = out["masks"][0, 0].numpy()
    assert (ref == mask).mean() > 0.98  # measured: identical (cv2 vs torch bilinear may differ at edges)


def test_prior_is_sent_as_mask_prompt(tiny_pth: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clicker = SamClicker(tiny_pth)
    clicker.load()
    assert clicker.engine is not None
    seen: dict[str, Any] = {}
    real = clicker.engine.decode

    def spy(emb: torch.Tensor, coords: np.ndarray, labels: np.ndarray, box: Any, mask_in: Any, multi: bool) -> Any:
        seen.update(mask_in=mask_in, multi=multi, box=box)
        return real(emb, coords, labels, box, mask_in, multi)

    monkeypatch.setattr(clicker.engine, "decode", spy)
    prior = np.zeros((H, W), bool)
    prior[10:40, 20:44] = True
    mask = clicker.predict("f0", _image(), Prompt(points=((30, 25, True),), box=(18, 8, 46, 42)), prior)
    assert mask.shape == (H, W)
    low = 4 * TINY["img_size"] // 16
    assert seen["mask_in"].shape == (low, low) and seen["multi"] is False
    assert seen["box"] == pytest.approx([18 * 2, 8 * 2, 46 * 2, 42 * 2])  # 64 px wide -> 128 input
    # Inside the prior the prompt logits are positive, outside (and in the padding) negative.
    assert seen["mask_in"][12, 14] > 0 and seen["mask_in"][2, 2] < 0 and seen["mask_in"][28, 5] < 0


def test_prior_to_logits_geometry() -> None:

    prior = np.zeros((100, 200), bool)
    prior[:, 100:] = True  # right half
    logits = prior_to_logits(prior, Geometry((100, 200), (512, 1024)), 1024, 256, 8.0)
    assert logits.shape == (256, 256)
    assert logits[10, 200] == pytest.approx(8.0) and logits[10, 20] == pytest.approx(-8.0)
    assert logits[200, 200] == pytest.approx(-8.0)  # padding below the image is background


def test_embedding_cache_is_bounded_lru(tiny_pth: Path) -> None:
    clicker = SamClicker(tiny_pth, cache_size=2, batch_size=2)
    clicker.load()
    clicker.precompute_many([(f"f{i}", _image(i)) for i in range(3)])
    assert clicker.cached_ids() == ["f1", "f2"]
    clicker.predict("f1", _image(1), Prompt(points=((3, 3, True),)), None)
    clicker.precompute("f3", _image(3))
    assert clicker.cached_ids() == ["f1", "f3"]  # f1 was used most recently, f2 evicted
    empty = clicker.predict("f1", _image(1), Prompt(), None)
    assert empty.shape == (H, W) and not empty.any()


def test_pickled_or_foreign_checkpoints_are_refused(tmp_path: Path) -> None:
    # Missing and garbage files: test_registry.test_unusable_weights_are_model_unavailable, for every backend.
    pickled = tmp_path / "pickle.pth"
    torch.save({"weights": Path("x")}, pickled)  # needs arbitrary unpickling: refused
    with pytest.raises(ModelUnavailable):
        SamClicker(pickled).load()
    other = tmp_path / "other.pth"
    torch.save({"linear.weight": torch.zeros(2, 2)}, other)
    with pytest.raises(ModelUnavailable, match="not a Segment Anything checkpoint"):
        SamClicker(other).load()


def test_truncated_checkpoint_is_unavailable(tiny_pth: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.pth"
    cut.write_bytes(tiny_pth.read_bytes()[:5000])
    with pytest.raises(ModelUnavailable):
        SamClicker(cut).load()


@pytest.fixture(scope="module")
def tiny_hf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import SamConfig, SamModel

    cfg = SamConfig(
        vision_config={"hidden_size": 32, "output_channels": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": 128, "window_size": 4, "global_attn_indexes": [1], "num_pos_feats": 16,
                       "mlp_dim": 64},
        prompt_encoder_config={"hidden_size": 32, "image_size": 128, "mask_input_channels": 8},
        mask_decoder_config={"hidden_size": 32, "mlp_dim": 64, "num_hidden_layers": 1, "iou_head_hidden_dim": 32},
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("sam_hf") / "sam-tiny"
    SamModel(cfg).save_pretrained(folder)
    return folder


def test_hf_folder_predicts(tiny_hf: Path) -> None:
    clicker = SamClicker(tiny_hf)
    clicker.load("cpu")
    assert clicker.variant == "hf-32"
    img = _image()
    one = clicker.predict("a", img, Prompt(points=((30, 25, True),)), None)
    prior = np.zeros((H, W), bool)
    prior[10:40, 20:44] = True
    refined = clicker.predict("a", img, Prompt(points=((30, 25, True), (2, 2, False)), box=(18, 8, 46, 42)), prior)
    for m in (one, refined):
        assert m.dtype == np.bool_ and m.shape == (H, W)
    assert clicker.cached_ids() == ["a"]


def test_hf_folder_without_weights(tiny_hf: Path, tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "config.json").write_text((tiny_hf / "config.json").read_text())
    with pytest.raises(ModelUnavailable, match="no weights"):
        SamClicker(folder).load()
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ModelUnavailable, match="corrupt"):
        SamClicker(folder).load()


@pytest.mark.skipif(os.environ.get("CELSTUDIO_BIG_TESTS") != "1", reason="writes a 375 MB checkpoint; set CELSTUDIO_BIG_TESTS=1")
def test_real_vit_b_checkpoint_loads_strictly(tmp_path: Path) -> None:
    torch.manual_seed(0)
    path = tmp_path / "sam_vit_b_01ec64.pth"
    torch.save(build_official(official_arch("vit_b")).state_dict(), path)
    clicker = SamClicker(path)
    clicker.load()
    assert clicker.variant == "vit_b"
    mask = clicker.predict("f", _image(), Prompt(points=((30, 25, True),)), None)
    assert mask.shape == (H, W) and mask.dtype == np.bool_
