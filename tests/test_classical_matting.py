"""Classical matter: a soft edge is recovered better than by the binary mask."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from app.eval.metrics import sad
from models.classical.matting import ClassicalMatter, exterior_of, fill_small_holes, make_trimap


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


def _drawn_disc(h: int = 120, w: int = 160, s: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A cel with a dark outline drawn at ``s`` x and area-downsampled, as anime is scaled: exact
    alpha, foreground colour the line's (not the fill's) at the edge, over a textured background."""
    yy, xx = np.mgrid[: h * s, : w * s] / s
    d = np.hypot(yy - h / 2, xx - w / 2)
    inside = (d < 35).astype(np.float32)
    line = (d > 33.5)[..., None]
    colour = np.where(line, np.array([30.0, 20, 40]), np.array([240.0, 190, 150])) * inside[..., None]
    alpha = cv2.resize(inside, (w, h), interpolation=cv2.INTER_AREA)
    premult = cv2.resize(colour.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    fg = premult / np.maximum(alpha, 1e-6)[..., None]
    noise = np.random.default_rng(3).integers(60, 220, (h, w, 3)).astype(np.uint8)
    bg = cv2.GaussianBlur(noise, (0, 0), 3).astype(np.float32)
    img = np.clip(alpha[..., None] * fg + (1 - alpha[..., None]) * bg + 0.5, 0, 255).astype(np.uint8)
    return img, bg.astype(np.uint8), alpha


@pytest.mark.parametrize("shift", [0, 1, -1])
def test_edge_follows_the_art_where_the_background_is_known(shift: int) -> None:
    """Where the background is known, each edge pixel's alpha comes from the compositing equation
    with the line's colour, so the matte follows the drawn edge even where the mask is a pixel
    off (as the segment masks are), far better than the mask or a colour model around it."""
    img, bg, gt = _drawn_disc()
    mask = gt > 0.5
    if shift:
        op = cv2.dilate if shift > 0 else cv2.erode
        mask = op(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    reach = cv2.dilate(mask.astype(np.uint8), np.ones((19, 19), np.uint8)) > 0
    alpha = ClassicalMatter().matte_with_background(img, mask, bg, np.ones(mask.shape, bool), reach)
    assert sad(alpha, gt) < (0.4 if shift == 0 else 0.25) * sad(mask, gt)
    assert sad(alpha, gt) < 0.5 * sad(ClassicalMatter().matte(img, mask), gt)


def test_outline_belongs_to_character_where_the_background_is_unknown() -> None:
    """A static shot never reveals what lies behind its character: the dark line the mask stops
    short of (glasses, the line round a face) is still the character's."""
    img = np.full((60, 60, 3), 200, np.uint8)
    img[20:40, 20:40] = (240, 180, 160)
    img[18:20, 18:42] = 10  # a dark outline just outside the mask's top edge
    mask = np.zeros((60, 60), bool)
    mask[20:40, 20:40] = True
    nothing = np.zeros((60, 60), bool)
    alpha = ClassicalMatter(band=3).matte_with_background(img, mask, img, nothing, ~nothing)
    assert alpha[18:20, 22:38].min() > 0.6 and alpha[19, 22:38].min() > 0.9
    assert alpha[5:12, 5:55].max() < 0.01  # and nothing else is


def _cut_by_the_frame(gap_colour: str) -> tuple[np.ndarray, np.ndarray, tuple[slice, slice]]:
    """A character cut by the frame's bottom edge over a textured blue background, and a mask that
    misses a 40 x 24 px region between its sides, closed off by that edge: the region is the
    character's white shirt (``"shirt"``) or the background seen between its legs (``"background"``)."""
    h, w = 120, 160
    noise = np.random.default_rng(5).integers(0, 255, (h, w, 3)).astype(np.uint8)
    img = cv2.GaussianBlur(noise, (0, 0), 2) // 3 + np.array([40, 80, 150], np.uint8)
    img[30:, 40:120] = (240, 190, 150)  # skin-coloured fill
    img[30:45, 55:105] = (250, 250, 245)  # a white collar: the mask holds white too
    img[30:, 39] = img[30:, 120] = img[29, 40:120] = 20  # the outline
    gap = (slice(80, 120), slice(68, 92))
    img[gap] = (250, 250, 245) if gap_colour == "shirt" else img[gap[0], 0:24]
    mask = np.zeros((h, w), bool)
    mask[29:, 39:121] = True
    mask[gap] = False
    return img, mask, gap


def test_a_region_the_mask_and_the_frame_edge_enclose_is_the_characters_when_it_looks_like_it() -> None:
    """The segment masks miss a character's torso between its arms where the frame cuts it: the
    matte fills that region when its colours are the character's and no frame shows background
    there, and leaves background seen between the legs (colours of the background around) open."""
    img, mask, gap = _cut_by_the_frame("shirt")
    alpha = ClassicalMatter().matte_shot([img, img], [mask, mask])[0]
    assert alpha[gap][2:-2, 2:-2].min() > 0.99
    img, mask, gap = _cut_by_the_frame("background")
    alpha = ClassicalMatter().matte_shot([img, img], [mask, mask])[0]
    assert alpha[gap][2:-2, 2:-2].max() < 0.01


@pytest.mark.parametrize("missed", ["torso", "background"])
def test_a_body_the_mask_missed_open_only_through_its_own_outline_is_filled(missed: str) -> None:
    """Layer-quality 404: the segment mask holds a front character's head, shoulders and one sleeve
    but not its body, which the frame's bottom cuts; on the other side the mask stops short of the
    body's outline, so the body leaks to the outside through that unmasked ink and was no gap (alpha
    0). Closed by the strokes that touch the mask it is one, and filled when it looks like the
    character; background there (the colours of the background around) stays open."""
    img, mask, _ = _cut_by_the_frame("shirt")
    img[30:, 40:120] = (240, 190, 150)  # the shirt of `_cut_by_the_frame` is skin here
    body = (slice(95, 120), slice(51, 120))
    if missed == "background":
        img[body] = img[body[0], 0:69]
    mask[95:, 51:] = False  # the body and its right outline (column 120) below row 95; the sleeve stays
    alpha = ClassicalMatter().matte_shot([img, img], [mask, mask])[0]
    inside = alpha[body][2:-2, 2:-2]
    if missed == "torso":
        assert inside.min() > 0.99
    else:
        assert inside.max() < 0.01
    assert alpha[60:, :35].max() < 0.01 and alpha[60:, 125:].max() < 0.01  # the background beside it


def test_a_thin_sliver_the_mask_and_the_frame_edge_enclose_stays_open() -> None:
    """A sliver of a few pixels between two parts of the mask (a limb near the body) is background
    even in the character's colours: too thin to be a missed part."""
    img, mask, _ = _cut_by_the_frame("shirt")
    sliver = (slice(60, 120), slice(78, 82))  # 4 px wide
    mask[80:120, 68:92] = True
    mask[sliver] = False
    img[sliver] = (250, 250, 245)
    alpha = ClassicalMatter().matte_shot([img, img], [mask, mask])[0]
    assert alpha[sliver][:, 1:-1].max() < 0.5


def _close_up() -> tuple[np.ndarray, np.ndarray, tuple[slice, slice], tuple[slice, slice]]:
    """A close-up: the character fills the frame but for the sky in its two top corners (27% of
    the frame, each corner enclosed by the mask with the frame's border, under half the mask), and
    wears a shirt in the sky's colours. The mask is the character's exactly; the corners' insides."""
    h, w = 120, 160
    noise = np.random.default_rng(7).integers(0, 255, (h, w, 3)).astype(np.uint8)
    sky = cv2.GaussianBlur(noise, (0, 0), 2) // 4 + np.array([150, 180, 220], np.uint8)
    img = sky.copy()
    yy, xx = np.mgrid[:h, :w]
    mask = (yy >= 50) | ((xx >= 40) & (xx < 120))
    img[mask] = (240, 190, 150)  # skin
    img[90:, :] = sky[90:, :]  # a shirt in the sky's colours
    img[mask & ~(cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)] = 20  # the outline
    return img, mask, (slice(3, 45), slice(3, 35)), (slice(3, 45), slice(125, 157))


def test_a_close_ups_background_beside_the_character_stays_background() -> None:
    """In a close-up the sky beside the character is "enclosed" by the mask with the frame's
    border, and mask and gaps cover the whole frame: no background is left round them to judge the
    gaps' colours against, so the sky stays background (it was made opaque: an empty ring made
    every colour the shirt shares with the sky "the character's")."""
    img, mask, left, right = _close_up()
    assert 0.2 < 1 - mask.mean() < 0.5 * mask.mean()
    alpha = ClassicalMatter().matte_shot([img, img], [mask, mask])[0]
    assert alpha[left].max() < 0.01 and alpha[right].max() < 0.01
    assert alpha[60:, 5:155].min() > 0.99  # the character itself is whole


def _outlined_disc(line: bool, rim: tuple[float, float, float] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A blue cel of radius 35 (with its dark outline 33.5-35 when ``line``) over a beige background
    with grain, drawn at 4x and area-downsampled; its distance map; and a mask that runs 4 px past
    the drawing (as segment masks do) onto the background, or onto a rim of colour ``rim`` that the
    character wears outside its line (a glow, a soft edge: its own)."""
    h, w, s = 120, 160, 4
    yy, xx = np.mgrid[: h * s, : w * s] / s
    d_big = np.hypot(yy - h / 2, xx - w / 2)
    fill = np.array([90.0, 140, 220])
    bg = np.array([200.0, 170, 120])
    colour = np.where((d_big < 35)[..., None], fill, bg)
    if line:
        colour = np.where(((d_big > 33.5) & (d_big < 35))[..., None], np.array([30.0, 20, 40]), colour)
    if rim is not None:
        colour = np.where(((d_big >= 35) & (d_big < 39))[..., None], np.array(rim), colour)
    small = cv2.resize(colour.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    img = np.asarray(small, np.float64) + np.random.default_rng(5).normal(0, 2, small.shape)
    yy, xx = np.mgrid[:h, :w] + 0.5
    d = np.hypot(yy - h / 2, xx - w / 2)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8), d, d < 39


def test_a_mask_past_the_characters_outline_is_cut_to_the_lines_outer_edge() -> None:
    """Alpha is 1 up to the outer edge of the character's own dark outline and 0 beyond it, even
    where the shot never shows the background there and the mask runs 4 px past the line."""
    img, d, mask = _outlined_disc(line=True)
    nothing = np.zeros(mask.shape, bool)
    alpha = ClassicalMatter(band=3).matte_with_background(img, mask, img, nothing, ~nothing)
    assert alpha[d < 33].min() > 0.99 and alpha[(d > 33.5) & (d < 34.5)].mean() > 0.8  # fill, line
    assert alpha[(d > 37) & (d < 39)].max() < 0.1  # the background the mask took in
    assert alpha[(d > 36) & (d < 37)].mean() < 0.2


@pytest.mark.parametrize("art", ["no line", "own rim"])
def test_nothing_is_cut_without_a_line_or_where_beyond_it_is_not_the_background(art: str) -> None:
    """Soft art with no outline, or a rim beyond the line in colours that are not the background's:
    the mask's edge is kept (feathered)."""
    img, d, mask = _outlined_disc(line=art == "own rim", rim=(150.0, 200, 240) if art == "own rim" else None)
    nothing = np.zeros(mask.shape, bool)
    alpha = ClassicalMatter(band=3).matte_with_background(img, mask, img, nothing, ~nothing)
    assert alpha[(d > 35) & (d < 37.5)].min() > 0.9


def test_a_close_ups_mask_past_the_outline_is_cut_too() -> None:
    """A close-up: the outlined cel fills the frame but for its four corners, which the mask (4 px past
    the line) encloses with the frame's border - "gaps", with no background round them to judge them
    by. They reach the border: they are the character's outside, and the mask past the line onto them
    is cut as in a wide shot (it was kept: nothing counted as outside, onepiece frame 101's rigging)."""
    img, d, mask = _outlined_disc(line=True)
    crop = (slice(30, 90), slice(45, 115))
    img, d, mask = img[crop], d[crop], mask[crop]
    assert 0 < (~mask).sum() < 0.1 * mask.sum()  # a close-up: the corners are gaps, with no ring round them
    nothing = np.zeros(mask.shape, bool)
    alpha = ClassicalMatter(band=3).matte_with_background(img, mask, img, nothing, ~nothing)
    assert alpha[d < 33].min() > 0.99 and alpha[(d > 33.5) & (d < 34.5)].mean() > 0.8  # fill, line
    beyond = alpha[(d > 37) & (d < 39)]  # the background the mask took in (0.90 on average before)
    assert beyond.mean() < 0.05 and beyond.max() < 0.2  # (the feather at the frame's edge: 0.14)
    # A hole the mask leaves inside the character is still no outside: its edge is not cut.
    hole = (np.abs(np.mgrid[:60, :70][0] - 30) < 4) & (np.abs(np.mgrid[:60, :70][1] - 35) < 4)
    assert not exterior_of(mask & ~hole)[hole].any()


def _beside_trees() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """konobi: a purple-haired cel (no outline on its right) over blurred trees (a green texture), and
    a mask that also takes in a 12 x 24 px block of the trees beside its right edge (her hair tips and
    collar), as stage 1's mask did in every frame. Image, mask, the cel, the block."""
    h, w = 120, 160
    rng = np.random.default_rng(7)
    leaves = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 3)
    leaves = (leaves - leaves.min()) / (leaves.max() - leaves.min())
    img = np.dstack([40 + 60 * leaves, 110 + 120 * leaves, 40 + 50 * leaves])
    yy, xx = np.mgrid[:h, :w]
    cel = np.hypot(yy - 60, xx - 70) < 35
    img[cel] = (120, 90, 130)
    img[cel & (yy > 70)] = (40, 45, 90)  # her jacket
    block = (yy >= 40) & (yy < 64) & (xx >= 98) & (xx < 110) & ~cel
    return np.clip(img, 0, 255).astype(np.uint8), cel | block, cel, block


@pytest.mark.parametrize("background", ["unknown", "stitched from herself"])
def test_scenery_the_mask_took_in_beside_the_character_is_cut(background: str) -> None:
    """konobi's green fringe: trees beside her in the mask, in colours her core never has, with no
    outline between (the outline cut leaves them), were kept in the matte: unknown there, or "known"
    from a stitch of frames that all show her (she never leaves her place) - a background the trees
    differ from, so the solve kept them too. Cut, and the cel stays whole."""
    img, mask, cel, block = _beside_trees()
    nothing = np.zeros(mask.shape, bool)
    if background == "unknown":
        alpha = ClassicalMatter(band=3).matte_with_background(img, mask, img, nothing, ~nothing)
    else:
        herself = img.copy()
        herself[block] = (120, 90, 130)  # the stitch shows her hair where the trees are
        alpha = ClassicalMatter(band=3).matte_with_background(img, mask, herself, ~nothing, ~nothing)
    inner = cv2.erode(cel.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert alpha[inner].min() > 0.99
    assert alpha[block].mean() < 0.1


def test_an_eye_the_mask_left_open_is_not_the_background_beside_it() -> None:
    """onepiece, Coby: the mask left his eye open to the outside through a thin channel; the eye (its lens
    tinted like his glasses) counted as the background beside him, so the scenery cut took his glasses'
    frame, in a colour his core never has. Only a wide outside is the background beside."""
    h, w = 120, 160
    yy, xx = np.mgrid[:h, :w]
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = (200, 170, 120)  # beige background
    cel = np.hypot(yy - 60, xx - 70) < 35
    img[cel] = (230, 190, 160)  # skin
    eye = (np.abs(yy - 55) < 6) & (np.abs(xx - 85) < 6)
    frame = (np.abs(yy - 55) < 10) & (np.abs(xx - 85) < 10) & ~eye
    img[frame] = (70, 30, 110)  # the glasses' frame round it, 8 px from her edge
    img[eye] = (90, 50, 130)  # the lens, tinted
    channel = (yy == 55) & (xx >= 85) & cel
    mask = cel & ~eye & ~channel
    nothing = np.zeros(mask.shape, bool)
    alpha = ClassicalMatter(band=3).matte_with_background(img, mask, img, nothing, ~nothing)
    assert alpha[frame & mask].mean() > 0.9  # (the channel's feather: 0.95; cut: 0.08)


def _glasses_and_arm() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A face with glasses over a wall, and an arm hanging off the body with a strand of ink between
    them; the segment mask stops at the ink (the lens rings, the temples, the outline), so the white
    lenses leak out along the strokes. Returns the picture, that mask, the lenses' insides and the
    wall beside the arm."""
    h, w = 170, 220
    img = np.full((h, w, 3), (120, 110, 150), np.uint8)  # the wall
    ink = (20, 15, 30)
    cv2.rectangle(img, (40, 20), (150, 130), (240, 200, 170), -1)  # the face
    cv2.rectangle(img, (40, 20), (150, 130), ink, 2)
    lenses = np.zeros((h, w), bool)
    for cx in (78, 112):
        cv2.circle(img, (cx, 60), 10, (250, 250, 250), -1)  # a white lens
        cv2.circle(img, (cx, 60), 10, ink, 3)  # its rim
        cv2.circle(lenses.view(np.uint8), (cx, 60), 6, 1, -1)
    cv2.line(img, (88, 60), (102, 60), ink, 3)  # the bridge
    cv2.line(img, (40, 60), (68, 60), ink, 3)  # the temples, out to the outline
    cv2.line(img, (122, 60), (150, 60), ink, 3)
    cv2.rectangle(img, (170, 30), (186, 160), (240, 200, 170), -1)  # an arm, joined only at the top
    cv2.rectangle(img, (170, 30), (186, 160), ink, 2)
    cv2.rectangle(img, (150, 30), (170, 40), (240, 200, 170), -1)  # the shoulder
    cv2.line(img, (150, 70), (170, 70), ink, 3)  # a strand of ink from the face to the arm
    gap = np.zeros((h, w), bool)
    gap[44:67, 154:167] = True  # the wall the strand closes off with the face, the shoulder, the arm
    gap[75:160, 154:167] = True  # the wall below it, open to the outside
    skin = np.abs(img.astype(int) - (240, 200, 170)).sum(axis=2) < 10
    return img, skin, lenses, gap  # the mask: the skin, up to the ink


def test_holes_the_outline_encloses_are_opaque_and_background_beside_the_arm_is_not() -> None:
    img, mask, lenses, gap = _glasses_and_arm()
    assert not fill_small_holes(mask)[lenses].any()  # the mask alone leaks out along the strokes
    alpha = ClassicalMatter().matte_shot([img, img], [mask, mask])[0]  # a still shot of two frames
    assert alpha[lenses].min() > 0.99  # lenses (and eye whites) inside the ink are the character's
    assert alpha[gap].max() < 0.01  # the wall beside the arm stays transparent, closed off by ink or not
