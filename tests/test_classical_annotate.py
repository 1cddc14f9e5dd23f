"""Classical annotator and perceptual hashing."""

from __future__ import annotations

import cv2
import numpy as np

from models.classical.annotate import (
    _ANCHOR_NAME,
    _LAB,
    PALETTE,
    ClassicalAnnotator,
    colour_names,
    hamming,
    perceptual_hash,
)


def _character(img: np.ndarray, labels: np.ndarray, x: int, k: int, hair: tuple[int, int, int]) -> None:
    labels[20:100, x:x + 30] = k
    img[20:40, x:x + 30] = hair  # hair on top
    img[40:60, x:x + 30] = (250, 215, 190)  # face
    img[60:100, x:x + 30] = (200, 40, 40)  # red clothes


def test_annotate_counts_colours_and_shot() -> None:
    img = np.full((120, 160, 3), 90, np.uint8)
    labels = np.zeros((120, 160), np.uint8)
    _character(img, labels, 10, 1, (240, 215, 120))
    _character(img, labels, 100, 2, (50, 90, 200))
    labels[5:15, 60:90] = 3
    ann = ClassicalAnnotator().annotate(img, labels, {1: "character", 2: "character", 3: "effect"})
    assert "2characters" in ann.tags and "effects" in ann.tags
    assert "blonde hair" in ann.tags and "blue hair" in ann.tags and "red clothes" in ann.tags
    assert "medium shot" in ann.tags and ann.caption.startswith("A medium shot")
    assert ann.embedding is not None and abs(float(np.linalg.norm(ann.embedding)) - 1) < 1e-4
    objs = ann.extra["objects"]
    assert isinstance(objs, dict)
    e1, e2 = objs[1]["embedding"], objs[2]["embedding"]
    assert float(e1 @ e1) > float(e1 @ e2)  # two different characters embed apart


def test_hash_tells_near_duplicates() -> None:
    rng = np.random.default_rng(0)
    a = cv2.resize(rng.integers(0, 255, (8, 8, 3)).astype(np.uint8), (128, 96), interpolation=cv2.INTER_CUBIC)
    b = np.clip(a.astype(int) + rng.integers(-4, 5, a.shape), 0, 255).astype(np.uint8)  # noisy copy
    c = np.ascontiguousarray(a[:, ::-1])  # a different picture
    hashes = [perceptual_hash(np.asarray(x, np.uint8)) for x in (a, c, b)]
    assert all(0 <= h < 2**64 for h in hashes)
    assert hamming(hashes[0], hashes[2]) <= 4 < hamming(hashes[0], hashes[1])


def test_hair_is_read_under_a_hat_and_black_hair_is_black() -> None:
    """The top of a character's mask is its hat as often as its hair: hair is read around the top of
    the face; and hair drawn almost black is black, not dropped as line art."""
    img = np.full((160, 120, 3), 90, np.uint8)
    labels = np.zeros((160, 120), np.uint8)
    labels[10:150, 30:90] = 1
    img[10:40, 30:90] = (235, 170, 40)  # a straw hat
    img[40:55, 30:90] = (12, 10, 9)  # black hair (anime black: near the line art's darkness)
    img[55:85, 30:90] = (250, 215, 190)  # face
    img[55:85, 30:40] = img[55:85, 80:90] = (12, 10, 9)  # hair beside the face
    img[85:150, 30:90] = (200, 40, 40)  # red clothes
    ann = ClassicalAnnotator().annotate(img, labels, {1: "character"})
    assert "black hair" in ann.tags and "orange hair" not in ann.tags and "red clothes" in ann.tags


def test_colour_names_look_up_equals_the_nearest_palette_colour() -> None:
    """The Lab look-up table gives the nearest named colour by float distance, ties to the first."""
    rng = np.random.default_rng(11)
    pixels = np.concatenate([rng.integers(0, 256, (50_000, 3), dtype=np.uint8),
                             np.array(list(PALETTE.values()), np.uint8)])
    lab = cv2.cvtColor(pixels.reshape(-1, 1, 3), cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)
    nearest = _ANCHOR_NAME[np.argmin(((lab[:, None, :] - _LAB[None]) ** 2).sum(axis=2), axis=1)]
    assert np.array_equal(colour_names(pixels), nearest)


def test_a_crimson_vest_over_a_bare_chest_is_red_clothes() -> None:
    """A dark red vest (nearer brown than bright red in Lab) is red, and the skin of a bare chest
    and arms between its sides is not what the character wears (onepiece_demo.mp4's Luffy was
    captioned "brown clothes" and "grey clothes")."""
    img = np.full((160, 120, 3), 90, np.uint8)
    labels = np.zeros((160, 120), np.uint8)
    labels[10:150, 30:90] = 1
    img[10:40, 30:90] = (12, 10, 9)  # black hair
    img[40:70, 30:90] = (250, 215, 190)  # face
    img[70:150, 30:90] = (189, 147, 108)  # shaded skin of the chest and arms
    img[75:150, 30:42] = img[75:150, 78:90] = (113, 20, 31)  # the open vest's two sides
    ann = ClassicalAnnotator().annotate(img, labels, {1: "character"})
    assert "red clothes" in ann.tags and "brown clothes" not in ann.tags and "grey clothes" not in ann.tags
