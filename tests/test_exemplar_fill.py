"""The exemplar fill invents an anime background's hole from its flat fills and lines, not a blur."""

from __future__ import annotations

import cv2
import numpy as np

from models.classical.exemplar import exemplar_fill
from models.classical.inpaint import INVENTED, ClassicalInpainter, telea
from models.registry import create_backend

SKY, WALL, GROUND, INK = (90, 160, 220), (200, 190, 170), (120, 180, 90), (20, 20, 30)


def anime_plate() -> np.ndarray:
    """Flat fills (sky, a wall, ground) separated by 3 px line art, like a painted anime background."""
    img = np.zeros((160, 260, 3), np.uint8)
    img[:] = SKY
    img[:, 150:] = WALL
    img[90:] = GROUND
    img[89:92] = INK  # the horizon line
    img[:89, 149:152] = INK  # the wall's edge
    return img


def hole_over_the_horizon() -> np.ndarray:
    hole = np.zeros((160, 260), np.uint8)
    cv2.circle(hole, (90, 90), 22, 1, -1)
    return hole.astype(bool)


def palette_share(image: np.ndarray, where: np.ndarray) -> float:
    """Share of the ``where`` pixels within 12 levels (every channel) of one of the plate's colours."""
    px = image[where].astype(np.int16)
    near = [np.abs(px - np.array(c, np.int16)).max(axis=1) <= 12 for c in (SKY, WALL, GROUND, INK)]
    return float(np.mean(np.any(near, axis=0)))


def test_the_hole_gets_the_plates_own_colours_not_a_blend() -> None:
    plate, hole = anime_plate(), hole_over_the_horizon()
    filled = exemplar_fill(plate, hole)
    assert palette_share(filled, hole) >= 0.9
    # The diffusion fill mixes sky, ink and ground into colours the background never had.
    assert palette_share(telea(plate, hole), hole) < 0.8


def test_the_line_art_continues_through_the_hole() -> None:
    plate, hole = anime_plate(), hole_over_the_horizon()
    filled = exemplar_fill(plate, hole)
    ink = np.abs(filled.astype(np.int16) - np.array(INK, np.int16)).max(axis=2) <= 40
    # Every column of the hole has the horizon's ink on (or a pixel beside) its row, sky above, ground below.
    cols = range(90 - 20, 90 + 21)
    assert all(ink[87:94, c].any() for c in cols)
    assert palette_share(filled[72:86, 75:106], np.ones((14, 31), bool)) >= 0.95
    assert np.abs(filled[75:85, 75:106].astype(np.int16) - np.array(SKY, np.int16)).max(axis=2).mean() <= 6
    assert np.abs(filled[96:106, 75:106].astype(np.int16) - np.array(GROUND, np.int16)).max(axis=2).mean() <= 6


def test_known_pixels_are_kept_and_the_fill_is_deterministic() -> None:
    plate, hole = anime_plate(), hole_over_the_horizon()
    rng = np.random.default_rng(1)
    noisy = np.clip(plate.astype(np.int16) + rng.integers(-6, 7, plate.shape), 0, 255).astype(np.uint8)
    a, b = exemplar_fill(noisy, hole), exemplar_fill(noisy, hole)
    assert np.array_equal(a, b)
    assert np.array_equal(a[~hole], noisy[~hole])
    assert np.array_equal(exemplar_fill(noisy, np.zeros_like(hole)), noisy)


def test_the_patch_fill_inpainter_invents_with_the_exemplar_fill() -> None:
    plate, hole = anime_plate(), hole_over_the_horizon()
    frame = plate.copy()
    frame[hole] = (230, 60, 60)  # a character that never moves: no frame shows what it hides
    frames, holes = [frame] * 4, [hole] * 4
    plates = create_backend("inpainter", "patchfill").stitch(frames, holes, transforms=[np.eye(3)] * 4)
    clean, confidence = plates[0]
    invented = confidence == INVENTED
    assert invented[hole].mean() > 0.95
    assert palette_share(clean, invented) >= 0.85


def test_the_default_classical_inpainter_keeps_telea() -> None:
    assert ClassicalInpainter().spatial is telea
    assert create_backend("inpainter", "classical").spatial is telea
