"""The effects stage's per-pixel kernels at 1080p cost (OpenCV planes, 256-entry tables, an opening
computed only where it is read) give the plain float formulas' figures bit for bit."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from models.classical import effects
from models.classical.effects import ClassicalEffectSeparator, additive_strength, not_darker, plate_support

H, W = 70, 110


def pictures(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """An image and a background that differ every way the formulas care about: brighter, darker by
    less and more than the slack, equal, clipped at 0 and 255."""
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    change = rng.integers(-40, 60, (H, W, 3))
    change[rng.random((H, W)) < 0.2] = 0
    image = np.clip(background.astype(np.int16) + change, 0, 255).astype(np.uint8)
    return image, background


def float_additive_strength(image: np.ndarray, background: np.ndarray, gain: float, slack: float = 10.0) -> np.ndarray:
    """The formula as floats: the blurred difference, its luminance and its lowest channel."""
    d = cv2.GaussianBlur(image, (3, 3), 0).astype(np.float32) - cv2.GaussianBlur(background, (3, 3), 0).astype(np.float32)
    lum = d @ np.array([0.299, 0.587, 0.114], np.float32)
    lowest = np.minimum(np.minimum(d[..., 0], d[..., 1]), d[..., 2])
    return np.asarray(np.clip(lum / gain, 0.0, 1.0) * np.clip((lowest + slack) / slack, 0.0, 1.0), np.float32)


def float_not_darker(image: np.ndarray, under: np.ndarray, slack: float = 10.0) -> np.ndarray:
    d = cv2.GaussianBlur(image, (3, 3), 0).astype(np.float32) - cv2.GaussianBlur(under, (3, 3), 0).astype(np.float32)
    return np.asarray(np.clip((d.min(axis=2) + slack) / slack, 0.0, 1.0), np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_strength_and_not_darker_are_the_float_formulas(seed: int) -> None:
    image, background = pictures(seed)
    crop = np.s_[5:61, 7:100]  # a box of a frame: strided rows, as the effects stage hands them
    for a, b in ((image, background), (image[crop], background[crop])):
        for gain in (30.0, 140.0):
            np.testing.assert_array_equal(additive_strength(a, b, gain), float_additive_strength(a, b, gain))
        np.testing.assert_array_equal(additive_strength(a, b, 140.0, slack=6.0), float_additive_strength(a, b, 140.0, 6.0))
        np.testing.assert_array_equal(not_darker(a, b), float_not_darker(a, b))
        np.testing.assert_array_equal(not_darker(a, b, 4.0), float_not_darker(a, b, 4.0))


def test_channel_extremes_are_numpys() -> None:
    image, _ = pictures(3)
    for x in (image, image[3:50, 9:80], image.astype(np.float32) - 100.0, image.astype(np.int16)):
        np.testing.assert_array_equal(effects._cmax(x), x.max(axis=2))
        np.testing.assert_array_equal(effects._cmin(x), x.min(axis=2))


@pytest.mark.parametrize("far_differs", [0, 20, 200])  # pixels of the plate that differ away from the characters
def test_plate_support_counts_what_the_mean_counted(far_differs: int) -> None:
    image, _ = pictures(4)
    mask = np.zeros((H, W), bool)
    mask[20:40, 30:60] = True
    plate = image.copy()
    plate[22:38, 32:58] = 0  # behind the characters
    ys, xs = np.unravel_index(np.random.default_rng(5).permutation(H * W)[:far_differs], (H, W))
    plate[ys, xs] = 255 - plate[ys, xs]
    differs = np.abs(image.astype(int) - plate.astype(int)).max(axis=2) > 2
    near = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    whole = differs[~near].mean() > 0.002
    got = plate_support(image, plate, mask)
    assert got.all() == whole
    if not whole:
        np.testing.assert_array_equal(got, cv2.dilate(differs.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)


def test_the_opening_is_made_only_where_it_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """A full plate (trusted everywhere) replaces the no-plate opening entirely: it is not computed.
    An inpaint-style plate (the frame outside its holes) is trusted at its holes only: it is."""
    image, background = pictures(6)
    mask = np.zeros((H, W), bool)
    mask[20:40, 30:60] = True
    opened: list[int] = []
    real = effects.thin_removed

    def counted(*args: Any, **kwargs: Any) -> np.ndarray:
        opened.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(effects, "thin_removed", counted)
    sep = ClassicalEffectSeparator()
    sep.separate_light(image, mask, background, alone=False)
    assert not opened
    filled = image.copy()
    filled[mask] = background[mask]
    sep.separate_light(image, mask, filled, alone=False)
    assert opened


def plain_lasting_groups(maps: list[np.ndarray], min_pixels: float, reach: int, threshold: float = 0.25,
                         min_frames: int = 2, crumbs: float = 0.1) -> list[np.ndarray]:
    """`keep_lasting_groups` as its docstring says it, on whole frames: each frame's groups by
    OpenCV, effects through time by merging groups that overlap in consecutive frames."""
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    ons = [(m >= threshold).astype(np.uint8) for m in maps]
    ons = [o if o.mean() <= 0.25 else np.zeros_like(o) for o in ons]  # a flash is no group
    labels, effect = [], {}
    for k, o in enumerate(ons):
        labels.append(cv2.connectedComponents(cv2.dilate(o, disk), connectivity=8)[1])
        for g in range(1, int(labels[-1].max()) + 1):
            effect[(k, g)] = {(k, g)}
    for k in range(len(maps) - 1):
        for g, h in {(int(a), int(b)) for a, b in zip(labels[k].ravel(), labels[k + 1].ravel(), strict=True) if a and b}:
            merged = effect[(k, g)] | effect[(k + 1, h)]
            for member in merged:
                effect[member] = merged
    pixels = {key: int(np.count_nonzero((labels[key[0]] == key[1]) & (ons[key[0]] > 0))) for key in effect}
    out = []
    for k, m in enumerate(maps):
        m = m.copy()
        dropped = np.zeros(m.shape, np.uint8)
        for g in range(1, int(labels[k].max()) + 1):
            members = effect[(k, g)]
            counts = [pixels[x] for x in members]
            lasting = len({f for f, _ in members}) >= min_frames and sum(counts) >= min_frames * min_pixels
            here = sum(pixels[x] for x in members if x[0] == k) >= crumbs * min_pixels
            if not ((max(counts) >= min_pixels or lasting) and here):
                dropped[labels[k] == g] = 1
        m[cv2.dilate(dropped, np.ones((5, 5), np.uint8)) > 0] = 0.0
        out.append(m)
    return out


def test_lasting_groups_are_the_plain_definitions() -> None:
    """Groups followed through frames, computed in each frame's box with shot-wide labels, are what
    whole frames give: sparks that last, specks that do not, a group that splits, a flash, an empty frame."""
    rng = np.random.default_rng(7)
    maps = []
    for k in range(6):
        m = np.zeros((H, W), np.float32)
        for _ in range(rng.integers(2, 9)):
            y, x = rng.integers(0, H - 14), rng.integers(0, W)
            m[y : y + rng.integers(1, 6), x : x + rng.integers(1, 6)] = rng.uniform(0.1, 1.0)
        m[30 + k : 36 + k, 40 + 3 * k : 44 + 3 * k] = 0.9  # a spark moving through the shot
        m[H - 3 : H - 1, W - 9 + k : W - 6 + k] = 0.7  # a small one that lasts: each frame's last group
        maps.append(m)
    maps.append(np.full((H, W), 0.6, np.float32))  # a flash
    maps.append(np.zeros((H, W), np.float32))
    for reach, min_pixels in ((3, 12.0), (5, 30.0), (8, 60.0)):
        got = effects.keep_lasting_groups(maps, min_pixels, reach)
        for a, b in zip(got, plain_lasting_groups(maps, min_pixels, reach), strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("size", [(270, 480), (540, 960), (200, 360)])  # 2x and 4x its working scale; 1.5x
def test_the_stand_in_background_under_a_box_is_the_whole_frames(size: tuple[int, int]) -> None:
    """Where no frame saw the background, the shot fills it with `estimate_background` resized only
    under the unseen pixels' box: the same values as resizing the whole frame."""
    rng = np.random.default_rng(9)
    h, w = size
    image = np.asarray(cv2.resize(rng.integers(0, 256, (h // 10, w // 10, 3), dtype=np.uint8), (w, h),
                                  interpolation=cv2.INTER_CUBIC), np.uint8)
    mask = np.zeros((h, w), bool)
    mask[h // 3 : h // 2, w // 4 : w // 2] = True
    whole = effects.estimate_background(image, mask)
    small = effects._small_background(image, mask)
    for box in ((0, h, 0, w), (7, h // 2 + 3, w // 3 + 1, w - 5), (h - 1, h, 0, 9)):
        got = effects.upsample_box(small, (h, w), box)
        np.testing.assert_array_equal(got, whole[box[0] : box[1], box[2] : box[3]])


def plain_neighbours(frames: list[np.ndarray], i: int, offsets: tuple[int, ...] = (-6, -3, 3, 6)) -> list[np.ndarray]:
    """Each neighbour warped onto frame ``i`` over the whole frame: DIS flow on the grey frames at
    most 480 px wide, resized to the frame, the pixel grid plus the flow as two float maps."""
    h, w = frames[i].shape[:2]
    s = min(1.0, 480 / max(h, w))
    greys = [cv2.cvtColor(cv2.resize(f, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else f,
                          cv2.COLOR_RGB2GRAY) for f in frames]
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for j in sorted({min(len(frames) - 1, max(0, i + d)) for d in offsets} - {i}):
        flow = dis.calc(greys[i], greys[j], None)  # type: ignore[call-overload]
        if s < 1:
            flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) / s
        out.append(cv2.remap(frames[j], gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE))
    return out


@pytest.mark.parametrize("size", [(540, 960), (180, 320)])  # flow at half size, and at full size
def test_neighbours_warped_in_a_box_are_the_whole_frames(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(10)
    h, w = size
    base = cv2.resize(rng.integers(0, 256, (h // 12, w // 12, 3), dtype=np.uint8), (w + 40, h), interpolation=cv2.INTER_CUBIC)
    frames = [np.ascontiguousarray(base[:, 3 * k : 3 * k + w], np.uint8) for k in range(8)]  # a pan
    box = (h // 5, h - 9, w // 7, w // 2 + 11)
    for i in (0, 4):
        got = effects.motion_neighbours(frames, i, box=box)
        want = plain_neighbours(frames, i)
        assert len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b[box[0] : box[1], box[2] : box[3]])


def test_explained_looks_at_the_pixels_of_where_alone() -> None:
    """Gathered at ``where``'s pixels (a few percent of their box), with each pixel dropped once a
    neighbour shows it: nothing outside ``where`` is reported, and what a later neighbour alone
    shows is found too."""
    rng = np.random.default_rng(11)
    image = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    first = np.clip(image.astype(int) + 40, 0, 255).astype(np.uint8)  # shows nothing
    second = image.copy()
    second[:, 20:] = 255 - second[:, 20:]  # shows the left half, a pixel off
    second = np.roll(second, 1, axis=0)
    where = rng.random((30, 40)) < 0.3
    got = effects.explained(image, [first, second], where)
    assert not got[~where].any()
    assert got[:29][where[:29] & (np.arange(40) < 19)].all()  # the last row's own row is rolled away
