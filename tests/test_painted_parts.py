"""A piece that looks like added light (`painted_parts.painted_pieces`): skin legs over a dark wall are drawn in
the colours their character's face is drawn in, a glow lifts the wall's own colour; only the legs are painted."""

from __future__ import annotations

import numpy as np
from flat_figures import BLUE, GREEN_HAIR, draw_figure

from models.classical.painted_parts import painted_pieces
from models.classical.segmentation import ClassicalSegmenter

WALL = (30, 40, 60)
GLOW = (90, 200, 255)
BODY, LEGS, LIGHT = 1, 2, 3


def _drawing() -> tuple[np.ndarray, np.ndarray]:
    """A figure at night, its skin legs a piece of their own, and a glow's halo beside it."""
    img = np.zeros((120, 160, 3), np.uint8)
    img[:] = WALL
    truth = np.zeros((120, 160), np.uint8)
    draw_figure(img, truth, BODY, 40, GREEN_HAIR, BLUE)
    labels = truth.copy()
    labels[77:92, 40:64] = LEGS
    yy, xx = np.mgrid[0:120, 0:160]
    strength = np.clip(1.0 - np.hypot(xx - 120, yy - 50) / 25.0, 0.0, 1.0)
    lit = strength > 0.2
    img[lit] = np.clip(np.asarray(WALL, np.float64) + strength[lit, None] * GLOW, 0, 255).astype(np.uint8)
    labels[lit] = LIGHT
    return img, labels


def test_legs_in_the_faces_colour_are_painted_a_glow_is_light() -> None:
    img, labels = _drawing()
    assert painted_pieces(img, labels, {LEGS, LIGHT}) == {LEGS}


def test_without_characters_nothing_is_painted() -> None:
    img, labels = _drawing()
    labels[labels == BODY] = 0
    assert painted_pieces(img, labels, {LEGS, LIGHT}) == set()


def test_the_segmenter_types_the_legs_a_character_and_the_glow_an_effect() -> None:
    img, labels = _drawing()
    additive = np.where(np.isin(labels, [LEGS, LIGHT]), 1.0, 0.0).astype(np.float32)
    kinds = ClassicalSegmenter()._kinds(labels, img, additive)
    assert kinds == {BODY: "character", LEGS: "character", LIGHT: "effect"}
