"""A source lends the background its matte finds inside its mask (issue #16 section 2,
`matte_background`): a mask that keeps a character's old silhouette covers background the matte,
cut to the outer edge of the character's outline, says is background."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from app.pipeline.stages.common import inpaint_holes, inpaint_sources
from app.store import Manifest, Project, Shot, SourceInfo
from models.classical.inpaint import INVENTED, SEEN_ELSEWHERE, ClassicalInpainter, matte_background

H, W = 270, 480
FILL, LINE = (240, 240, 235), (30, 20, 20)


def textured_backdrop() -> np.ndarray:
    """A painted wall with texture: no 3x3 neighbourhood is flat, so `flat_background` lends nothing."""
    rng = np.random.default_rng(5)
    noise = cv2.GaussianBlur(rng.integers(0, 255, (H, W, 3)).astype(np.float32), (0, 0), 1.0)
    return np.clip(90 + 1.5 * (noise - 127), 0, 255).astype(np.uint8)


def character(img: np.ndarray, x: int, y: int, size: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """An outlined square character (flat fill, 2 px line art) at (x, y); its mask and its alpha."""
    cv2.rectangle(img, (x, y), (x + size, y + size), FILL, -1)
    cv2.rectangle(img, (x, y), (x + size, y + size), LINE, 2)
    alpha = np.zeros((H, W), np.uint8)
    cv2.rectangle(alpha, (x - 1, y - 1), (x + size + 1, y + size + 1), 255, -1)
    return alpha > 0, alpha


def turned_shot() -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Three frames of a still camera: the character stands at x=100 in frames 0 and 2 and at x=300
    in frame 1, whose mask still holds its old place (stage 1 keeping an old silhouette), while its
    matte is 0 there. Frames, masks, alphas, and the wall behind the old place."""
    wall = textured_backdrop()
    frames, masks, alphas = [], [], []
    for x in (100, 300, 100):
        img = wall.copy()
        mask, alpha = character(img, x, 100)
        frames.append(img)
        masks.append(mask)
        alphas.append(alpha)
    old_place = masks[0]
    masks[1] = masks[1] | old_place
    return frames, masks, alphas, wall


def test_a_mask_kept_after_a_turn_lends_what_its_matte_says_is_background() -> None:
    frames, masks, alphas, wall = turned_shot()
    still = [np.eye(3)] * 3
    revealed = masks[0]  # frame 1 alone shows the wall behind frame 0's character
    clear = [matte_background(a, m) for a, m in zip(alphas, masks, strict=True)]
    assert clear[1].sum() == masks[0].sum() and not clear[0].any() and not clear[2].any()
    plate, confidence = ClassicalInpainter().stitch(frames, masks, still, hidden=masks, only=[0], clear=clear)[0]
    true_wall = np.abs(plate.astype(int) - wall.astype(int)).max(axis=2) <= 2
    lent = revealed & (confidence == SEEN_ELSEWHERE) & true_wall
    assert lent.sum() > 0.95 * revealed.sum()
    # Before: frame 1's mask covered it, no frame showed it (the texture is never flat: no flood
    # either), and the plate invented all of it.
    _, old = ClassicalInpainter().stitch(frames, masks, still, hidden=masks, only=[0])[0]
    assert (old[revealed] == INVENTED).all()


def test_a_character_s_interior_is_never_taken() -> None:
    """Alpha 0 inside the outline (an eye the matte judged background, a flat fill it missed) is
    enclosed by the line art's alpha: no run of low alpha joins it to the outside."""
    mask = np.zeros((H, W), bool)
    mask[80:200, 100:220] = True  # a silhouette 8 px wider than the character on the right
    alpha = np.zeros((H, W), np.uint8)
    alpha[80:200, 100:212] = 255  # the character, inside its outline
    alpha[120:130, 130:140] = 0  # an eye
    alpha[150:180, 150:200] = 5  # a fill the matte almost missed
    got = matte_background(alpha, mask)
    assert got[80:200, 212:220].all()  # the strip beyond the outline
    assert got.sum() == 120 * 8
    # One pixel of the outline left low joins the fill to the outside (4-connected): then it is taken.
    alpha[165, 200:212] = 0
    assert matte_background(alpha, mask)[160, 170]
    assert not matte_background(np.full((H, W), 255, np.uint8), mask).any()


def test_the_stage_never_lends_text_or_an_effect_and_nothing_before_the_matte(tmp_path: Path) -> None:
    h, w = 90, 160
    project = Project.create(tmp_path / "p", Manifest("p", SourceInfo("generated", "", "r"), 1, w, h, 24.0,
                                                      shots=[Shot(0, 1)]))
    try:
        project.media.write_frame(0, np.zeros((h, w, 3), np.uint8))
        person = project.add_object("someone").id
        text = project.add_object("subtitle", kind="text").id
        labels = np.zeros((h, w), np.uint8)
        labels[20:70, 20:70] = person
        labels[75:85, 40:120] = text
        project.layers.write("masks", 0, labels)
        hole, hidden, clear = inpaint_sources(project, 0)
        assert not clear.any()  # no matte yet
        assert all(np.array_equal(a, b) for a, b in zip((hole, hidden), inpaint_holes(project, 0), strict=True))
        alpha = np.zeros((h, w), np.uint8)
        alpha[20:70, 20:60] = 255  # the matte cut 10 columns of the character's mask
        project.layers.write("alpha", 0, alpha)
        effects = np.zeros((h, w), np.uint8)
        effects[20:30, 60:70] = 255  # an effect over part of them
        project.layers.write("effects", 0, effects)
        hole, hidden, clear = inpaint_sources(project, 0)
        assert clear[30:70, 60:70].all() and clear.sum() == 40 * 10
        assert hidden[75:85, 40:120].all() and not clear[75:85].any()  # text: alpha 0, never lent
        assert hidden[20:30, 60:70].all() and not clear[20:30].any()  # the effect
    finally:
        project.close()
