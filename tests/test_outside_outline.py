"""What no character's outline encloses is background: a block a mask took in beside a character is
cut through the background's colour edges, the character inside its dark outline is kept - also a
dark-clothed one, one whose outline a light streak crosses, and one whose outline a flash washed out."""

from __future__ import annotations

import cv2
import numpy as np

from models.classical.enclosure import outside_outline

H, W = 120, 200
CX, CY, R = 70, 60, 30


def scene(fill: tuple[int, int, int] = (230, 190, 160)) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A sky-to-hill background in bands with colour edges (no dark lines) and one disc character of
    ``fill`` in a dark outline; the mask is the disc and a block of background to its right (what a
    body box leaves). Returns the picture, the mask (label 1), the disc and the block."""
    img = np.zeros((H, W, 3), np.uint8)
    for y in range(H):  # light bands, each its own colour: colour edges, no line art
        img[y] = (150 + (y // 15) * 10, 200 - (y // 15) * 5, 235 - (y // 15) * 12)
    cv2.circle(img, (CX, CY), R, fill, -1)
    cv2.circle(img, (CX, CY), R, (20, 20, 30), 2)
    disc = np.zeros((H, W), np.uint8)
    cv2.circle(disc, (CX, CY), R + 1, 1, -1)
    mask = disc.copy()
    mask[CY - 20:CY + 20, CX + R:CX + R + 25] = 1
    block = (mask > 0) & (disc == 0)
    return img, mask, disc > 0, block


def test_the_block_beside_a_character_is_cut_and_the_character_kept() -> None:
    img, mask, disc, block = scene()
    cut = outside_outline(mask, img, [1])
    assert cut[block].mean() > 0.9
    assert not cut[disc].any()


def test_a_dark_clothed_character_keeps_its_fill() -> None:
    # Navy fill: the black outline melts into it, the black-hat sees no stroke there.
    img, mask, disc, block = scene(fill=(30, 35, 80))
    cut = outside_outline(mask, img, [1])
    assert cut[block].mean() > 0.9
    assert not cut[disc].any()


def test_a_light_streak_across_the_outline_opens_no_way_in() -> None:
    img, mask, disc, block = scene()
    img[CY - 1:CY + 2, :CX] = (245, 245, 245)  # a speed line from the left edge into the character
    cut = outside_outline(mask, img, [1])
    assert cut[block].mean() > 0.9
    assert cut[disc].mean() < 0.02  # at most the streak itself


def test_a_washed_out_frame_keeps_its_character() -> None:
    img, mask, disc, _ = scene()
    flash = (255 - (255 - img.astype(np.float32)) * 0.08).astype(np.uint8)  # no stroke left
    cut = outside_outline(mask, flash, [1])
    assert not cut[disc].any()


def test_only_the_given_objects_are_cut() -> None:
    img, mask, _, _ = scene()
    assert not outside_outline(mask, img, [2]).any()
    assert not outside_outline(mask, img, []).any()
