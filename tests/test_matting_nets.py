"""U^2-Net, IS-Net (DIS and anime-segmentation) and MODNet load their official layouts strictly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from app.errors import ModelUnavailable
from models.isnet import ISNetMatter
from models.isnet import build_random as build_isnet
from models.modnet import MODNetMatter
from models.modnet import build_random as build_modnet
from models.u2net import CropMatter, U2NetMatter, crop_box, restrict_to_mask
from models.u2net import build_random as build_u2net

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _scene() -> tuple[np.ndarray, np.ndarray]:
    img = np.full((96, 80, 3), 200, np.uint8)
    mask = np.zeros((96, 80), bool)
    mask[20:70, 15:45] = True
    img[mask] = (240, 120, 90)
    img[5:15, 60:75] = (30, 30, 30)  # another object far from the mask
    return img, mask


def _save(tmp_path: Path, name: str, net: torch.nn.Module, prefix: str = "",
          extra: dict[str, torch.Tensor] | None = None) -> Path:
    state = {prefix + k: v for k, v in net.state_dict().items()}
    state.update(extra or {})
    path = tmp_path / name
    torch.save(state, path)
    return path


def _check_matte(matter: CropMatter, img: np.ndarray, mask: np.ndarray) -> None:
    alpha = matter.matte(img, mask)
    assert alpha.shape == mask.shape and alpha.dtype == np.float32
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0
    assert np.all(alpha[0:16, 58:80] == 0.0)  # far from the mask nothing is pulled in
    # `restrict_to_mask` falls back on the mask itself when the network misses the object, so "the
    # object is kept" would hold with a dead network: what came back must be the network's own matte.
    y0, y1, x0, x1 = crop_box(mask)
    pred = np.zeros(mask.shape, np.float32)
    with torch.inference_mode():
        pred[y0:y1, x0:x1] = matter._infer(img[y0:y1, x0:x1])
    assert not np.array_equal(alpha, mask.astype(np.float32))
    np.testing.assert_allclose(alpha, restrict_to_mask(pred, mask), atol=1e-5)


@pytest.mark.parametrize("small,div", [(True, 1), (False, 8)])
def test_u2net_official_layout(tmp_path: Path, small: bool, div: int) -> None:
    torch.manual_seed(0)
    net = build_u2net(small=small, div=div)
    assert "stage1.rebnconvin.conv_s1.weight" in net.state_dict() and "outconv.weight" in net.state_dict()
    matter = U2NetMatter(_save(tmp_path, "u2net.pth", net), size=64)
    matter.load("cpu")
    img, mask = _scene()
    _check_matte(matter, img, mask)


def test_isnet_dis_and_anime_checkpoints(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = build_isnet(div=8)
    img, mask = _scene()
    dis = ISNetMatter(_save(tmp_path, "isnet.pth", net), size=64)
    dis.load("cpu")
    assert dis.preset == "dis"
    _check_matte(dis, img, mask)
    # anime-segmentation: weights under "net.", plus a training-only "gt_encoder." that is dropped.
    gt = {"gt_encoder.conv_in.weight": torch.zeros(8, 1, 3, 3)}
    anime = ISNetMatter(_save(tmp_path, "isnetis.ckpt", net, "net.", gt), size=64)
    anime.load("cpu")
    assert anime.preset == "anime"
    _check_matte(anime, img, mask)


def test_modnet_dataparallel_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = build_modnet(hr_channels=8, alpha=0.25)
    state = net.state_dict()
    assert "lr_branch.backbone.model.features.0.0.weight" in state and "backbone.model.features.18.0.weight" in state
    matter = MODNetMatter(_save(tmp_path, "modnet.ckpt", net, "module."), ref_size=64)
    matter.load("cpu")
    img, mask = _scene()
    _check_matte(matter, img, mask)


def test_another_familys_checkpoint_is_refused(tmp_path: Path) -> None:
    # Missing and garbage files: test_registry.test_unusable_weights_are_model_unavailable, for every backend.
    path = _save(tmp_path, "u2netp.pth", build_u2net(small=True))
    for matter in (MODNetMatter, ISNetMatter):
        with pytest.raises(ModelUnavailable):
            matter(path).load()


def test_restrict_to_mask_keeps_band_and_falls_back() -> None:
    mask = np.zeros((50, 50), bool)
    mask[10:40, 10:40] = True
    pred = np.ones((50, 50), np.float32)
    alpha = restrict_to_mask(pred, mask, band=3)
    assert alpha[mask].min() == 1.0 and alpha[0, 0] == 0.0 and 0 < alpha[8, 25] <= 1.0
    missed = restrict_to_mask(np.zeros((50, 50), np.float32), mask, band=3)
    assert np.array_equal(missed, mask.astype(np.float32))
