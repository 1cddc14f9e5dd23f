"""A source lends the wall its character mask covers in the wall's colours (issue #16 section 2,
`plate_reveal.revealed_under_masks`): a mask that keeps a character's old silhouette after it moved
covers textured wall the matte follows; the shot's palettes tell that wall from the character."""

from __future__ import annotations

import cv2
import numpy as np

from models.classical.inpaint import INVENTED, SEEN_ELSEWHERE, ClassicalInpainter
from models.classical.plate_reveal import WEAK_RATIO, revealed_under_masks

H, W = 270, 480
FILL, SHADE, LINE = (240, 200, 170), (200, 120, 90), (30, 20, 20)


def textured_wall() -> np.ndarray:
    """A painted blue-green wall with texture (no flat run for `flat_background`)."""
    rng = np.random.default_rng(5)
    noise = cv2.GaussianBlur(rng.integers(0, 255, (H, W, 3)).astype(np.float32), (0, 0), 1.0)
    base = np.array([70, 120, 140], np.float32)
    return np.clip(base + 1.5 * (noise - 127), 0, 255).astype(np.uint8)


def draw(img: np.ndarray, x: int, y: int, size: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """A character: a skin fill with a shaded lower half and 2 px line art; its mask (a pixel of
    wall round it, as a matte's fringe) and the pixels drawn."""
    cv2.rectangle(img, (x, y), (x + size, y + size), FILL, -1)
    cv2.rectangle(img, (x, y + size // 2), (x + size, y + size), SHADE, -1)
    cv2.rectangle(img, (x, y), (x + size, y + size), LINE, 2)
    mask = np.zeros((H, W), bool)
    mask[y - 1:y + size + 2, x - 1:x + size + 2] = True
    drawn = np.zeros((H, W), bool)
    drawn[y:y + size + 1, x:x + size + 1] = True
    return mask, drawn


def lagging_shot() -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], np.ndarray, np.ndarray]:
    """Four frames of a still camera: the character walks right; frame 2's mask still holds a strip
    of its place in frame 1 (12 px of wall left of it, the lagging silhouette). Frames, the masks,
    the characters as drawn, the wall, and the lagging strip."""
    wall = textured_wall()
    frames, masks, truth = [], [], []
    for x in (100, 140, 152, 240):
        img = wall.copy()
        mask, drawn = draw(img, x, 100)
        masks.append(mask)
        truth.append(drawn)
        frames.append(img)
    lag = np.zeros((H, W), bool)
    lag[99:162, 139:151] = True
    masks[2] = masks[2] | lag
    return frames, masks, truth, wall, lag


def test_the_wall_a_lagging_mask_covers_is_found_and_the_character_is_not() -> None:
    frames, masks, truth, _, lag = lagging_shot()
    found = revealed_under_masks(frames, masks, masks)
    # All of the strip but the mask's outer ring (`EDGE`: a tight mask's ring is the outline's blend).
    assert found[2][lag].mean() > 0.85 and found[2][100:161, 140:151].mean() > 0.95
    assert not found[2][:, 139].any()  # the ring: on a tight mask the outline's blend
    for f, t in zip(found, truth, strict=True):
        assert not (f & t).any()  # no pixel of the character (fill, shade, line art) is lent
    assert not found[0].any() and not found[1].any() and not found[3].any()  # tight masks


def test_a_wall_coloured_patch_enclosed_by_the_outline_is_not_taken() -> None:
    """Growth starts at the mask's edge and stops at the line art (the character's palette): a patch
    of the character drawn in the wall's colours, inside its outline, is never lent."""
    frames, masks, _, wall, lag = lagging_shot()
    frames[2][120:135, 170:190] = wall[120:135, 170:190]  # inside the outline (x 152-212)
    found = revealed_under_masks(frames, masks, masks)
    assert not found[2][120:135, 170:190].any()
    assert found[2][lag].mean() > 0.85


def test_the_plate_stitches_the_lent_wall_where_every_other_frame_hides_it() -> None:
    """Frame 1's character covers the strip; frame 2 alone shows it, under its lagging mask. With
    the lend the plate of frame 1 has the wall there, observed; without it the plate invents it."""
    frames, masks, _, wall, lag = lagging_shot()
    still = [np.eye(3)] * 4
    hidden = masks
    # The other frames hide the strip too (only frame 2's lag shows the wall there).
    for k in (0, 3):
        hidden = [h | lag if i == k else h for i, h in enumerate(hidden)]
    clear = revealed_under_masks(frames, masks, hidden)
    plate, confidence = ClassicalInpainter().stitch(frames, masks, still, hidden=hidden, only=[1], clear=clear)[0]
    # The strip 2 px in from the lagging mask's edge and from frame 2's character (what is not lent
    # there, the edge's ring, keeps the pixel next to it out too: a source's `_seen` ring).
    strip = np.zeros((H, W), bool)
    strip[101:160, 141:150] = True
    near = np.abs(plate.astype(int) - wall.astype(int)).max(axis=2) <= 2
    assert (strip & (confidence == SEEN_ELSEWHERE) & near).sum() > 0.85 * strip.sum()
    _, old = ClassicalInpainter().stitch(frames, masks, still, hidden=hidden, only=[1])[0]
    assert (old[strip] == INVENTED).mean() > 0.95


# Where the palettes are too close to tell (a wall in the cast's colours), `ratio` infinite: only the weak palette test where the drawing changed (`changed_under_masks`) lends.
CLOSE_PALETTES = np.inf


def test_the_lagging_strip_is_lent_where_the_drawing_changed_under_it() -> None:
    """Frame 1's mask holds the character where frame 2 shows the wall under its lagging strip: the
    drawing there changed, so the wall-like colours are lent even when the palettes cannot tell."""
    frames, masks, truth, _, lag = lagging_shot()
    still = [np.eye(3)] * 4
    with np.errstate(invalid="ignore"):  # inf times an empty bin
        assert not any(f.any() for f in revealed_under_masks(frames, masks, masks, ratio=CLOSE_PALETTES))
        found = revealed_under_masks(frames, masks, masks, ratio=CLOSE_PALETTES, transforms=still)
    assert found[2][lag].mean() > 0.85 and found[2][100:161, 140:151].mean() > 0.95
    for f, t in zip(found, truth, strict=True):
        assert not (f & t).any()


def test_a_held_drawing_in_wall_colours_is_not_taken() -> None:
    """A character that holds still with a part in the wall's colours open to the outside (its
    outline not drawn there): the weak palette test takes it, but every frame's mask holds the same drawing there."""
    wall = textured_wall()
    frames, masks = [], []
    for _ in range(4):
        img = wall.copy()
        mask, _ = draw(img, 150, 100)
        # Narrower than the palettes' `INTERIOR`, so the characters' palette does not hold it.
        img[99:162, 147:153] = np.clip(wall[99:162, 147:153].astype(int) + 4, 0, 255)
        frames.append(img)
        masks.append(mask)
    part = np.zeros((H, W), bool)
    part[101:160, 151:153] = True
    still = [np.eye(3)] * 4
    with np.errstate(invalid="ignore"):  # inf times an empty bin
        found = revealed_under_masks(frames, masks, masks, ratio=CLOSE_PALETTES, transforms=still)
    # The weak palette test alone (as the only test, no camera) would take it.
    taken = revealed_under_masks(frames, masks, masks, ratio=WEAK_RATIO)
    assert not any(f[part].any() for f in found)
    assert all(t[part].mean() > 0.5 for t in taken)
