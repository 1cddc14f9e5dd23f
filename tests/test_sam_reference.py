"""SAM: our click path against the official ``SamPredictor`` procedure, on a 16:9 image.

Re-stated from segment-anything's ``predictor.py`` and ``utils/transforms.py`` (the package's
``__init__`` imports torchvision, which is not installed, so the steps are written out here):
``ResizeLongestSide.apply_image`` (torchvision ``resize`` of a PIL image: PIL bilinear,
antialiased), ``apply_coords``, ``Sam.preprocess`` (normalise, pad bottom-right), the encoder, prompt
encoder and mask decoder, ``Sam.postprocess_masks`` and ``> mask_threshold`` (0.0). The official
``Sam`` methods themselves are called where they exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_models import write_sam

from models.base import Prompt
from models.sam import SamClicker
from models.sam.engines import Geometry, logits_to_mask, preprocess

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def official_predict(model: Any, image: np.ndarray, points: list[tuple[float, float, bool]]) -> np.ndarray:
    """``SamPredictor.set_image`` + ``predict(point_coords, point_labels, multimask_output=True,
    return_logits=True)``: the full-size logits of the mask with the highest predicted IoU."""
    target = model.image_encoder.img_size
    oldh, oldw = image.shape[:2]
    scale = target * 1.0 / max(oldh, oldw)
    newh, neww = int(oldh * scale + 0.5), int(oldw * scale + 0.5)
    input_image = np.array(Image.fromarray(image).resize((neww, newh), Image.Resampling.BILINEAR))
    x = torch.as_tensor(input_image).permute(2, 0, 1).contiguous()[None, :, :, :]
    features = model.image_encoder(model.preprocess(x.float()))
    coords = np.array([(px, py) for px, py, _ in points], float)
    coords[..., 0] = coords[..., 0] * (neww / oldw)
    coords[..., 1] = coords[..., 1] * (newh / oldh)
    labels = torch.as_tensor([[1 if pos else 0 for _, _, pos in points]], dtype=torch.int)
    sparse, dense = model.prompt_encoder(
        points=(torch.as_tensor(coords, dtype=torch.float)[None], labels), boxes=None, masks=None)
    low, iou = model.mask_decoder(
        image_embeddings=features, image_pe=model.prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=True)
    logits = model.postprocess_masks(low, (newh, neww), (oldh, oldw))
    return logits[0, int(iou[0].argmax())].numpy()


@pytest.mark.parametrize("shape", [(90, 160), (54, 96)], ids=["shrink-16x9", "enlarge-16x9"])
def test_click_matches_official_predictor(tmp_path: Path, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(2)
    h, w = shape
    img = np.clip(rng.normal(200, 20, (h, w, 3)), 0, 255).astype(np.uint8)
    img[h // 5 : 4 * h // 5, w // 3 : 2 * w // 3] = (200, 60, 50)
    clicker = SamClicker(write_sam(tmp_path / "sam_vit_b_01ec64.pth"))
    clicker.load("cpu")
    pts = [(w / 2 + 0.3, h / 2 - 0.7, True)]
    ours = clicker.predict("f0", img, Prompt(points=tuple(pts)), None)
    model = clicker._need().model
    with torch.inference_mode():
        logits = official_predict(model, img, pts)
    ref = logits > 0.0
    assert ours.shape == ref.shape == shape and ref.any()
    # Pixel-exact, except where the official logit is zero up to float rounding.
    assert np.all(np.abs(logits[ours != ref]) < 1e-4)
    assert (ours & ref).sum() / (ours | ref).sum() >= 0.999


@pytest.mark.parametrize("shape", [(90, 160), (54, 96), (300, 533)])
def test_preprocess_and_postprocess_match_official(tmp_path: Path, shape: tuple[int, int]) -> None:
    """The two steps around the (shared) network, where a random tiny SAM's masks are too uniform
    to show 1-pixel differences: pixels exactly, and masks from random low-res logits."""
    clicker = SamClicker(write_sam(tmp_path / "sam_vit_b_01ec64.pth"))
    clicker.load("cpu")
    model = clicker._need().model
    rng = np.random.default_rng(4)
    h, w = shape
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    pixels, geom = preprocess(img, 128)
    newh, neww = geom.input_hw
    resized = np.array(Image.fromarray(img).resize((neww, newh), Image.Resampling.BILINEAR))
    ref = model.preprocess(torch.as_tensor(resized).permute(2, 0, 1)[None].float())[0].numpy()
    assert np.abs(pixels - ref).max() < 1e-5
    low = torch.from_numpy(rng.normal(0, 3, (1, 1, 32, 32)).astype(np.float32))
    logits = model.postprocess_masks(low, (newh, neww), (h, w))[0, 0].numpy()
    ours = logits_to_mask(low[0, 0].numpy(), Geometry((h, w), (newh, neww)), 128)
    assert (logits > 0).any() and (logits <= 0).any()
    assert np.all(np.abs(logits[ours != (logits > 0)]) < 1e-4)
