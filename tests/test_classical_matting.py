"""Classical matter: a soft edge is recovered better than by the binary mask."""

from __future__ import annotations

import numpy as np

from app.eval.metrics import sad
from models.classical.matting import ClassicalMatter, make_trimap


def _soft_disc(h: int = 120, w: int = 150) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[:h, :w]
    d = np.sqrt((yy - h / 2) ** 2 + (xx - w / 2) ** 2)
    gt = np.clip((40 - d) / 5 + 0.5, 0, 1).astype(np.float32)
    fg, bg = np.array([220, 60, 50.0]), np.array([40, 90, 200.0])
    noise = np.random.default_rng(0).normal(0, 3, (h, w, 3))
    img = (gt[..., None] * fg + (1 - gt[..., None]) * bg + noise).clip(0, 255).astype(np.uint8)
    return img, gt


def test_soft_edge_recovered() -> None:
    img, gt = _soft_disc()
    mask = gt > 0.5
    alpha = ClassicalMatter().matte(img, mask)
    assert alpha.dtype == np.float32 and alpha.shape == mask.shape
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0
    assert sad(alpha, gt) < 0.25 * sad(mask, gt)


def test_outline_belongs_to_character() -> None:
    img = np.full((60, 60, 3), 200, np.uint8)
    img[20:40, 20:40] = (240, 180, 160)
    img[18:20, 18:42] = 10  # a dark outline just outside the mask's top edge
    mask = np.zeros((60, 60), bool)
    mask[20:40, 20:40] = True
    trimap = make_trimap(img, mask, 3)
    assert (trimap[18:20, 22:38] == 1.0).all()
    alpha = ClassicalMatter(band=3).matte(img, mask)
    assert alpha[18:20, 22:38].min() == 1.0


def test_empty_mask() -> None:
    img, _ = _soft_disc(20, 20)
    assert ClassicalMatter().matte(img, np.zeros((20, 20), bool)).max() == 0.0
