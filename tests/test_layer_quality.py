"""Layers worth training on: stitched plates, background-aware mattes, effects over characters, and
the measures that judge them - on small generated pans with exact truth."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from app.demo.backgrounds import Camera, paint_plate, render_view
from app.eval.metrics import (
    connectivity_error,
    dtssd,
    effect_iou,
    gradient_error,
    mask_agreement,
    masked_psnr,
    matte_errors,
    matte_regions,
)
from models.classical.camera import estimate_camera
from models.classical.effects import ClassicalEffectSeparator
from models.classical.inpaint import INVENTED, SEEN_ELSEWHERE, SEEN_HERE, ClassicalInpainter, stray_frames
from models.classical.matte_background import known_background
from models.classical.matting import ClassicalMatter, band_width, fill_small_holes

W, H = 320, 180


def _character(cx: float, cy: float) -> tuple[np.ndarray, np.ndarray]:
    """An anime-ish character: an outlined body (soft edge from 4x supersampling) and two eye whites."""
    s = 4
    big = np.zeros((H * s, W * s, 3), np.uint8)
    a = np.zeros((H * s, W * s), np.uint8)
    centre, axes = (int(cx * s), int(cy * s)), (30 * s, 55 * s)
    cv2.ellipse(a, centre, axes, 0, 0, 360, 255, -1)
    cv2.ellipse(big, centre, axes, 0, 0, 360, (25, 20, 30), -1)  # the outline ...
    cv2.ellipse(big, centre, (axes[0] - 2 * s, axes[1] - 2 * s), 0, 0, 360, (235, 120, 90), -1)  # ... and fill
    for dx in (-10, 10):
        cv2.circle(big, (int((cx + dx) * s), int((cy - 25) * s)), 5 * s, (250, 250, 250), -1)
    colour = cv2.resize(big, (W, H), interpolation=cv2.INTER_AREA).astype(np.float32)
    alpha = cv2.resize(a, (W, H), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    # Premultiplied after the area reduction: un-premultiply so colour * alpha is the composite.
    return colour / np.maximum(alpha, 1e-6)[..., None], alpha


def pan_shot(n: int = 10, flash: int | None = None, walk: float = -2.3) -> dict[str, list[np.ndarray]]:
    """A pan over a painted plate with a character walking ``walk`` px per frame on screen (by
    default along with the pan, slower, so part of the background behind it is never revealed);
    exact truth per frame."""
    plate = paint_plate(7, W, H)
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("image", "clean", "alpha", "revealed", "mask")}
    cams = [Camera(W * 0.62 + 4.3 * i, H * 0.7, 1.0) for i in range(n)]
    seen = np.zeros(plate.shape[:2], np.uint8)
    for i, cam in enumerate(cams):
        clean = render_view(plate, cam, W, H)
        colour, alpha = _character(150 + walk * i, 100)
        image = alpha[..., None] * colour + (1 - alpha[..., None]) * clean
        if i == flash:
            image = image + 0.9 * (255 - image)
        else:
            m = cam.matrix(W, H)
            seen |= np.asarray(cv2.warpAffine((alpha <= 0.02).astype(np.uint8), m, plate.shape[1::-1],
                                              flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP), np.uint8)
        out["image"].append(np.clip(image + 0.5, 0, 255).astype(np.uint8))
        out["clean"].append(clean)
        out["alpha"].append(alpha)
        out["mask"].append(alpha >= 0.5)
    for cam in cams:
        out["revealed"].append(cv2.warpAffine(seen, cam.matrix(W, H), (W, H), flags=cv2.INTER_NEAREST) > 0)
    return out


def _holes(masks: list[np.ndarray], grow: int = 2) -> list[np.ndarray]:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    return [cv2.dilate(m.astype(np.uint8), k) > 0 for m in masks]


# -- measures ----------------------------------------------------------------------------------------


def test_matting_measures_on_known_errors() -> None:
    _, gt = _character(160, 90)
    assert matte_errors(gt, gt)["sad"] == 0.0 and connectivity_error(gt, gt) == 0.0
    worse = gt.copy()
    worse[20:30, 20:30] = 1.0  # a detached blob: large connectivity error, and SAD counts 100 px
    e = matte_errors(worse, gt)
    assert e["sad"] == pytest.approx(0.1, abs=1e-6) and e["conn"] > 0.05
    assert gradient_error(cv2.GaussianBlur(gt, (0, 0), 2.0), gt) > gradient_error(gt, gt)
    regions = matte_regions(gt)
    assert not (regions["outline"] & regions["interior"]).any()
    assert (regions["hair"] <= regions["outline"]).all() and regions["hair"].any()
    # Flicker: a matte that changes exactly as the truth does scores 0; a jittering one does not.
    gts = [_character(150 + k, 90)[1] for k in range(4)]
    assert dtssd(gts, gts) == 0.0
    jitter = [g if k % 2 else np.roll(g, 1, axis=0) for k, g in enumerate(gts)]
    assert (dtssd(jitter, gts) or 0.0) > 1.0
    assert mask_agreement(gt > 0.5, gt > 0.5)["iou"] == 1.0
    assert effect_iou(np.zeros_like(gt), np.zeros_like(gt)) is None


# -- clean plates --------------------------------------------------------------------------------------


def test_plate_stitched_from_the_pan_with_an_exact_invented_mask() -> None:
    shot = pan_shot(flash=5)
    holes = _holes(shot["mask"])
    # The white flash does not show the shot's background: it lends nothing to the others.
    assert stray_frames(shot["image"], estimate_camera(shot["image"], foreground=holes), shot["mask"]) == [5]
    plates = ClassicalInpainter().stitch(shot["image"], holes, hidden=shot["mask"])
    psnrs: list[float] = []
    agreement: list[float] = []
    for i, (plate, conf) in enumerate(plates):
        assert set(np.unique(conf)) <= {SEEN_HERE, SEEN_ELSEWHERE, INVENTED}
        if i == 5:
            # The flash frame's own lit picture is no view of the background either: its whole
            # plate is stitched from the other frames (the lit wall is ~10 dB off the truth).
            assert not (conf == SEEN_HERE).any()
            shown = shot["revealed"][i] & (conf == SEEN_ELSEWHERE)
            assert shown.mean() > 0.9
            assert (masked_psnr(plate, shot["clean"][i], shown) or 0.0) >= 35.0
            continue
        # The inpainter grows the hole by 2 px and feathers the seam over 3 more: beyond that the
        # plate is the frame itself.
        assert (conf[~_holes(holes[i:i + 1], 3)[0]] == SEEN_HERE).all()
        far = ~_holes(holes[i:i + 1], 7)[0]
        assert np.array_equal(plate[far], shot["image"][i][far])
        hidden = shot["alpha"][i] > 0.02
        value = masked_psnr(plate, shot["clean"][i], shot["revealed"][i] & hidden & (conf == SEEN_ELSEWHERE))
        assert value is not None
        psnrs.append(value)
        agreement.append(mask_agreement(conf == INVENTED, ~shot["revealed"][i] & holes[i])["iou"])
    # The background the pan reveals comes back sharp (the flash frame lends none of its light);
    # only what no frame reveals is invented, and the confidence layer says which pixels those are
    # (up to the one-pixel ring of soft fringe that sources leave out).
    assert float(np.mean(psnrs)) >= 38.0 and min(psnrs) >= 35.0
    assert float(np.mean(agreement)) >= 0.9


def test_a_shot_of_strays_alone_keeps_each_frame_s_own_background() -> None:
    # Every frame hides all but a corner of 25 px (too little to compare with the shot: each is a
    # stray), so no frame is a source: each plate keeps its own visible corner, not a whole-frame fill.
    shot = pan_shot(3)
    hidden = [np.ones((H, W), bool) for _ in range(3)]
    for h in hidden:
        h[:5, :5] = False
    assert stray_frames(shot["image"], estimate_camera(shot["image"]), hidden) == [0, 1, 2]
    for i, (plate, conf) in enumerate(ClassicalInpainter(hole_grow=0, feather=0).stitch(shot["image"], hidden)):
        assert (conf[:5, :5] == SEEN_HERE).all()
        assert np.array_equal(plate[:5, :5], shot["image"][i][:5, :5])


# -- mattes --------------------------------------------------------------------------------------------


def test_matte_against_the_revealed_background_beats_the_mask() -> None:
    shot = pan_shot(8, walk=6.0)
    k = np.ones((5, 5), np.uint8)
    masks = []
    for i, m in enumerate(shot["mask"]):
        bad = cv2.erode(m.astype(np.uint8), k) > 0  # the mask stops 2 px short of the outline
        x = int(150 + 6.0 * i)
        bad[70:80, x - 12 : x + 12] = False  # and misses a patch inside (eyes, a white shirt)
        masks.append(bad)
    matter = ClassicalMatter()
    shot_sad = [matte_errors(a, g, regions=False)["sad"]
                for a, g in zip(matter.matte_shot(shot["image"], masks), shot["alpha"], strict=True)]
    frame_sad = [matte_errors(matter.matte(f, m), g, regions=False)["sad"]
                 for f, m, g in zip(shot["image"], masks, shot["alpha"], strict=True)]
    assert float(np.mean(shot_sad)) < 0.5 * float(np.mean(frame_sad))


def test_thin_rim_the_mask_misses_is_opaque() -> None:
    """A mask that stops short of a thin rim in a colour of its own (a lit strand of hair, a light
    outline): where the background is known, the rim is the character's, alpha 1 all round,
    although the fill beside it says nothing of its colour."""
    rng = np.random.default_rng(5)
    bg = np.asarray(cv2.GaussianBlur(rng.integers(160, 210, (H, W, 3), dtype=np.uint8), (0, 0), 2), np.uint8)
    image = bg.copy()
    body = cv2.circle(np.zeros((H, W), np.uint8), (160, 90), 40, 1, -1) > 0
    image[body] = (235, 120, 90)
    rim = (cv2.circle(np.zeros((H, W), np.uint8), (160, 90), 42, 1, 2) > 0) & ~body
    image[rim] = (245, 235, 110)
    reach = cv2.dilate(body.astype(np.uint8), np.ones((19, 19), np.uint8)) > 0
    alpha = ClassicalMatter().matte_with_background(image, body, bg, np.ones((H, W), bool), reach)
    assert float((alpha[rim] >= 0.9).mean()) >= 0.99


def test_a_fill_the_plate_learnt_stays_and_background_the_mask_took_in_goes() -> None:
    """A still character whose mask missed a part in other frames: the stitched background there
    is the character itself (its fill and outline). That part continues the mask's own fill with
    no line between, so it stays opaque; a block of real background the mask took in beside the
    character meets it at the outline, and is cut."""
    rng = np.random.default_rng(9)
    bg = np.asarray(cv2.GaussianBlur(rng.integers(60, 220, (H, W, 3), dtype=np.uint8), (0, 0), 3), np.uint8)
    colour, alpha = _character(150, 95)
    image = np.clip(alpha[..., None] * colour + (1 - alpha[..., None]) * bg + 0.5, 0, 255).astype(np.uint8)
    body = alpha >= 0.5
    learnt = np.zeros((H, W), bool)
    learnt[80:110, 114:128] = True  # the body's left side, its outline and a little outside
    stitched = np.where(learnt[..., None], image, bg)
    taken = np.zeros((H, W), bool)
    taken[85:105, 181:192] = True  # background beside the right side, inside the mask
    mask = body | taken
    reach = cv2.dilate(mask.astype(np.uint8), np.ones((19, 19), np.uint8)) > 0
    a = ClassicalMatter().matte_with_background(image, mask, stitched, np.ones((H, W), bool), reach)
    inner = cv2.erode(body.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0  # the edge pixel itself may go soft
    assert float((a[learnt & inner] >= 0.9).mean()) >= 0.98
    assert float((a[taken & ~cv2.dilate(body.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)] <= 0.1).mean()) >= 0.95


def test_held_frames_share_one_matte() -> None:
    shot = pan_shot(5, walk=6.0)
    frames = [*shot["image"][:3], shot["image"][2].copy(), *shot["image"][3:]]  # frame 2 is held
    masks = [*shot["mask"][:3], np.roll(shot["mask"][2], 2, axis=1), *shot["mask"][3:]]  # its mask jitters
    alphas = ClassicalMatter().matte_shot(frames, masks)
    assert np.array_equal(alphas[2], alphas[3])  # zero flicker on the hold
    assert not np.array_equal(alphas[1], alphas[2])


def test_only_the_targets_are_matted_and_they_equal_the_whole_shot_s(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stage batch holds frames that only lend background: with ``targets`` only those mattes are
    made (a held target gets its drawing's), each what matting the whole shot gives."""
    shot = pan_shot(6)
    frames = [*shot["image"][:3], shot["image"][2].copy(), *shot["image"][3:]]  # frame 3 holds frame 2
    masks = [*shot["mask"][:3], shot["mask"][2], *shot["mask"][3:]]
    camera = estimate_camera(frames, foreground=masks)
    whole = ClassicalMatter().matte_shot(frames, masks, camera)
    solved: list[int] = []
    real = ClassicalMatter.matte_with_background

    def counted(self: ClassicalMatter, image: np.ndarray, *args: np.ndarray) -> np.ndarray:
        solved.append(next(i for i, f in enumerate(frames) if f is image or np.array_equal(f, image)))
        return real(self, image, *args)

    monkeypatch.setattr(ClassicalMatter, "matte_with_background", counted)
    part = ClassicalMatter().matte_shot(frames, masks, camera, targets=[5, 1, 3])
    assert len(part) == 3
    for got, i in zip(part, (5, 1, 3), strict=True):
        assert np.array_equal(got, whole[i])
    assert sorted(solved) == [1, 2, 5]  # frame 3 is frame 2's drawing; 0 and 4 only lend background


def test_the_matte_s_background_is_the_stitched_plate_along_the_edge() -> None:
    """`known_background` is the inpainter's stitched plate (no spatial fill, and no test for
    sources showing the frame's own character, `SameAsTarget`, nor for parts other frames' masks
    hold, `plate_votes.missed_parts`, and no flat background lent from under a source's mask,
    `inpaint.flat_background`), computed only at the band's pixels:
    the same pixels known, the same colours up to the warp's sub-pixel rounding."""
    shot = pan_shot(8)
    frames, holes = shot["image"], _holes(shot["mask"], 6)
    camera = estimate_camera(frames, foreground=holes)
    plates = ClassicalInpainter(feather=0, same_levels=-1, missed_parts=False, flood=False).stitch(
        frames, holes, camera, hidden=holes)
    bands = {i: holes[i] & ~(cv2.erode(shot["mask"][i].astype(np.uint8), np.ones((9, 9), np.uint8)) > 0)
             for i in (0, 3, 7)}
    got = known_background(frames, holes, camera, bands)
    for i, band in bands.items():
        plate, confidence = plates[i]
        background, known = got[i]
        expected = band & (confidence == SEEN_ELSEWHERE)
        assert expected.sum() > 1000 and (known != expected).sum() <= 0.002 * expected.sum()
        both = known & expected
        diff = np.abs(background.astype(int) - plate.astype(int))[both]
        assert diff.mean() < 0.2 and np.percentile(diff, 99.9) <= 3
        assert np.array_equal(background[~band], frames[i][~band])


def test_the_matte_s_box_gives_the_whole_frame_s_result() -> None:
    """`matte_with_background` works in the box around the mask and its reach; the frame outside
    it is 0 and inside it every pixel is what the whole frame's solve gives."""
    shot = pan_shot(3)
    image, mask, clean = shot["image"][1], shot["mask"][1], shot["clean"][1]
    known = np.ones((H, W), bool)
    known[:, : W // 2] = False  # the solve on one side, the feathered mask on the other
    for grow in (1, 19):
        reach = cv2.dilate(mask.astype(np.uint8), np.ones((grow, grow), np.uint8)) > 0
        matter = ClassicalMatter()
        boxed = matter.matte_with_background(image, mask, clean, known, reach)
        whole = matter._matte_near(image, mask, clean, known, reach, band_width(mask.shape))
        assert boxed.max() == 1.0 and np.array_equal(boxed, whole)


def test_small_enclosed_holes_are_filled() -> None:
    m = np.zeros((60, 60), bool)
    m[10:50, 10:50] = True
    m[20:24, 20:24] = False  # an eye white: inside the outline
    m[0:60, 28:31] = False  # a gap that reaches the border: background
    out = fill_small_holes(m)
    assert out[20:24, 20:24].all() and not out[:, 28:31].any()
    m[35:45, 35:45] = False  # a hole with a channel to the mask's edge (not the frame's): outside
    m[39:41, 45:50] = False
    out = fill_small_holes(m)
    assert not out[35:45, 35:45].any() and not out[39:41, 45:50].any()


# -- effects -------------------------------------------------------------------------------------------


def test_sparks_over_a_character_are_found() -> None:
    shot = pan_shot(9)
    frames = [f.copy() for f in shot["image"]]
    truth = np.zeros((H, W), np.float32)
    cx = int(150 - 2.3 * 4)  # where pan_shot's character is in frame 4
    for a in np.linspace(0, 2 * np.pi, 7, endpoint=False):  # a burst of thin sparks over the body
        p0 = (cx + int(8 * np.cos(a)), 100 + int(8 * np.sin(a)))
        p1 = (cx + int(24 * np.cos(a)), 100 + int(24 * np.sin(a)))
        cv2.line(truth, p0, p1, 1.0, 2, cv2.LINE_AA)
    lit = frames[4].astype(np.float32) + truth[..., None] * np.array([255.0, 230.0, 120.0])
    frames[4] = np.clip(lit, 0, 255).astype(np.uint8)
    maps = ClassicalEffectSeparator().separate_shot(frames, shot["mask"])
    assert (effect_iou(maps[4], truth) or 0.0) >= 0.4
    assert (maps[2] >= 0.25).sum() < 0.01 * shot["mask"][2].sum()  # nothing where nothing lit


# -- real anime backgrounds ----------------------------------------------------------------------------


def test_anime_backdrop_shots(shared_dir: Path) -> None:
    from app.demo.anime_shots import generate_anime_shots, revealed
    from app.demo.backgrounds import PLATE_MARGIN

    video = generate_anime_shots(5, clips_dir=shared_dir / "data/anime/clips",
                                 character_dir=shared_dir / "data/anime/characters", width=192, height=108,
                                 shots=1, frames_per_shot=4)
    plate = video.plate(0)
    assert plate.shape == (round(108 * PLATE_MARGIN[1]), round(192 * PLATE_MARGIN[0]), 3)
    assert plate.std() > 10  # a real picture, not a flat fill
    frames = [video.frame(i) for i in range(4)]
    shown = revealed(video, frames)
    for f, r in zip(frames, shown, strict=True):
        clear = (f.alpha <= 0.02) & (f.effects <= 0.05)
        if f.kind == "normal":
            assert r[clear].mean() > 0.99  # what a frame shows is revealed, up to rounding
        assert np.array_equal(render_view(plate, video.camera(f.index), 192, 108), f.clean)


def test_visible_effects_leave_out_light_over_white() -> None:
    """Light added where the frame is already white changes nothing: it is no visible effect."""
    from app.demo.generator import GeneratedFrame
    from app.eval.layer_quality import visible_effects

    clean = np.full((20, 40, 3), 120, np.uint8)
    clean[:, 20:] = 255  # a white wall on the right
    effects = np.zeros((20, 40), np.float32)
    effects[5:15, 10:30] = 0.6  # light across both halves
    light = (effects[..., None] * 200).astype(np.uint8)
    image = np.clip(clean.astype(np.int16) + light, 0, 255).astype(np.uint8)
    zero = np.zeros((20, 40), np.float32)
    frame = GeneratedFrame(image, zero.astype(np.uint8), zero, effects, clean, np.zeros_like(clean), light)
    seen = visible_effects(frame)
    assert (seen[5:15, 10:20] == 0.6).all() and (seen[:, 20:] == 0).all()
    assert effect_iou(seen, effects) == pytest.approx(0.5)


def test_solid_interior_sad_counts_only_the_edge() -> None:
    """A fill whose true alpha is 0.98 (as in several shared PNGs) is solid in an artist's cut-out:
    the solid-interior SAD does not count alpha 1 there, but does count an edge error."""
    from app.eval.layer_quality import solid_interior_sad

    truth = np.zeros((40, 40), np.float32)
    truth[10:30, 10:30] = 0.98
    alpha = (truth > 0).astype(np.float32)
    assert matte_errors(alpha, truth, regions=False)["sad"] > 0.005
    edge = (truth > 0) & ~(cv2.erode((truth > 0).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0)
    assert solid_interior_sad(alpha, truth) == pytest.approx(0.02 * edge.sum() / 1000.0, rel=1e-6)
    worse = alpha.copy()
    worse[10:30, 10] = 0.0  # one edge column lost
    assert solid_interior_sad(worse, truth) > solid_interior_sad(alpha, truth) + 0.015
