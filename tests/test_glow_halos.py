"""A glow's halo that a character's mask took in is cut; the character, outlined or white, stays."""

from __future__ import annotations

import cv2
import numpy as np

from models.classical.glow_halos import cut_halos

H, W = 120, 160
WALL = (40, 50, 90)
GLOW = np.array((255, 110, 200), np.float32)
# The wall's blotches, up to +-40 levels a channel: a painted wall is no flat colour, and an aura over
# it spreads over many colours (the character's fills recur).
BLOTCHES = np.stack([cv2.GaussianBlur(np.random.default_rng(c).uniform(-1, 1, (H, W)).astype(np.float32), (0, 0), 4.0)
                     for c in range(3)], axis=-1) * 300


def _drawing(shift: int, fill: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A figure (an outlined ellipse in ``fill``) in a pulsing pink aura over a blotched dark
    wall; its true silhouette, and its mask grown 6 px into the aura."""
    alpha = np.zeros((H, W), np.uint8)
    cv2.ellipse(alpha, (70 + shift, 60), (22, 40), 0, 0, 360, 1, -1)
    image = np.empty((H, W, 3), np.float32)
    image[:] = WALL
    image += BLOTCHES
    image[alpha > 0] = fill
    outline = (alpha > 0) & (cv2.erode(alpha, np.ones((5, 5), np.uint8)) == 0)
    image[outline] = (20, 20, 25)
    halo = np.clip(1.5 * cv2.GaussianBlur(alpha.astype(np.float32), (0, 0), 5.0), 0, 1) * (1 - 0.8 * alpha)
    halo *= 0.6 + 0.35 * np.sin(shift)  # the aura pulses: its colours are no fills of the shot
    image += halo[..., None] * GLOW
    mask = cv2.dilate(alpha, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (13, 13)))
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), alpha > 0, mask > 0


def _shot(fill: tuple[int, int, int]) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    frames, truths, labels = [], [], []
    for shift in range(0, 30, 3):
        image, truth, mask = _drawing(shift, fill)
        frames.append(image)
        truths.append(truth)
        labels.append(np.where(mask, 1, 0).astype(np.uint8))
    return frames, truths, labels


def test_the_halo_inside_the_mask_is_cut_and_the_figure_stays() -> None:
    frames, truths, labels = _shot((200, 170, 90))
    out = cut_halos(frames, labels, [{1: "character"}] * len(frames))
    halo = sum(int(((lab > 0) & ~t).sum()) for lab, t in zip(labels, truths, strict=True))
    cut = sum(int(((lab > 0) & (o == 0) & ~t).sum()) for lab, o, t in zip(labels, out, truths, strict=True))
    lost = sum(int(((o == 0) & t).sum()) for o, t in zip(out, truths, strict=True))
    assert cut > 0.12 * halo, (cut, halo)  # the rule off (`BRIGHTER` 1e9): 0
    assert lost < 0.01 * sum(int(t.sum()) for t in truths), lost


def test_white_clothes_in_the_aura_stay() -> None:
    frames, truths, labels = _shot((250, 250, 250))
    for image, truth in zip(frames, truths, strict=True):
        image[truth & (cv2.erode(truth.astype(np.uint8), np.ones((5, 5), np.uint8)) == 0)] = (250, 250, 250)  # no outline
    out = cut_halos(frames, labels, [{1: "character"}] * len(frames))
    lost = sum(int(((o == 0) & t).sum()) for o, t in zip(out, truths, strict=True))
    assert lost < 0.01 * sum(int(t.sum()) for t in truths), lost


def test_other_kinds_are_left_alone() -> None:
    frames, _, labels = _shot((200, 170, 90))
    out = cut_halos(frames, labels, [{1: "effect"}] * len(frames))
    assert all(np.array_equal(o, lab) for o, lab in zip(out, labels, strict=True))
