"""The aesthetic head: the published key layout loads strictly, scores equal the plain linear chain,
and the CLIP annotator and stage annotate put its score (and its source) on each character."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_models import write_clip

from app.errors import ModelUnavailable
from app.pipeline.stages import object_quality_records
from models.aesthetic import SOURCE, aesthetic_scores, load_aesthetic_head, to_unit
from models.base import FrameAnnotation

WIDTHS = (1024, 128, 64, 16, 1)
KEYS = ("layers.0", "layers.2", "layers.4", "layers.6", "layers.7")  # the published Sequential indices


def official_state(dim: int, seed: int = 0) -> OrderedDict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    state: OrderedDict[str, torch.Tensor] = OrderedDict()
    fan_in = dim
    for key, width in zip(KEYS, WIDTHS, strict=True):
        state[f"{key}.weight"] = torch.randn(width, fan_in, generator=gen) / fan_in**0.5
        state[f"{key}.bias"] = torch.randn(width, generator=gen) * 0.1
        fan_in = width
    return state


def reference(state: dict[str, torch.Tensor], x: torch.Tensor) -> np.ndarray:
    """The published head re-stated: normalise, then five affine maps with no activation."""
    h = x / x.norm(dim=-1, keepdim=True)
    for key in KEYS:
        h = h @ state[f"{key}.weight"].T + state[f"{key}.bias"]
    return h.squeeze(-1).numpy()  # type: ignore[no-any-return]


def test_published_layout_loads_and_scores_like_the_linear_chain(tmp_path: Path) -> None:
    state = official_state(768)
    path = tmp_path / "sac+logos+ava1-l14-linearMSE.pth"
    torch.save(state, path)
    head = load_aesthetic_head(path)
    x = torch.randn(5, 768, generator=torch.Generator().manual_seed(1)) * 3
    np.testing.assert_allclose(aesthetic_scores(head, x), reference(state, x), rtol=1e-5, atol=1e-5)
    assert to_unit(1.0) == 0.0 and to_unit(10.0) == 1.0 and to_unit(5.5) == pytest.approx(0.5)


def test_wrong_or_missing_weights_are_model_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable):
        load_aesthetic_head(tmp_path / "missing.pth")
    state = official_state(768)
    del state["layers.7.bias"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(ModelUnavailable):
        load_aesthetic_head(tmp_path / "broken.pth")


def test_clip_annotator_scores_each_character(tmp_path: Path) -> None:
    from models.annotators import ClipAnnotator

    clip = write_clip(tmp_path / "clip")
    state = official_state(16)  # the tiny CLIP projects to 16 dimensions
    torch.save(state, tmp_path / "head.pth")
    ann = ClipAnnotator(clip, aesthetic=tmp_path / "head.pth")
    ann.load("cpu")
    image = np.full((48, 64, 3), 90, np.uint8)
    labels = np.zeros((48, 64), np.uint8)
    labels[8:40, 6:26], labels[10:30, 36:60] = 1, 2
    image[labels == 1] = (240, 200, 60)
    image[labels == 2] = (40, 90, 220)
    result = ann.annotate(image, labels, {1: "character", 2: "character"})
    objects = result.extra["objects"]
    assert isinstance(objects, dict) and set(objects) == {1, 2}
    from models.annotators import character_crops

    crops = character_crops(image, labels, {1: "character", 2: "character"})
    expected = reference(state, ann.clip_embed(list(crops.values())))
    for i, oid in enumerate(crops):
        assert objects[oid]["aesthetic"] == pytest.approx(to_unit(float(expected[i])), abs=1e-5)
        assert objects[oid]["aesthetic_source"] == SOURCE
    # stage annotate keeps the weight-free signals and takes the deep score in place of the proxy
    records = object_quality_records(image, labels, {1: "character", 2: "character"}, [], result)
    assert records[1]["aesthetic_source"] == SOURCE and records[1]["aesthetic"] == objects[1]["aesthetic"]
    plain = object_quality_records(image, labels, {1: "character"}, [], FrameAnnotation([], ""))
    assert plain[1]["aesthetic_source"] == "weight-free proxy"


def test_head_for_another_clip_width_is_refused(tmp_path: Path) -> None:
    from models.annotators import ClipAnnotator

    clip = write_clip(tmp_path / "clip")
    torch.save(official_state(768), tmp_path / "head.pth")
    with pytest.raises(ModelUnavailable, match="ViT-L/14"):
        ClipAnnotator(clip, aesthetic=tmp_path / "head.pth").load("cpu")
