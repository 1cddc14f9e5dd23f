"""The clean plate's fast kernels give what the plain computations give, bit for bit: the masked
median (sorting network and partition), pixels of an affine warp, Telea on the hole's box, and a
plate stitched for some frames only."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pans import painted, shot

from models.classical import plate as plate_module
from models.classical.inpaint import TELEA_RADIUS, ClassicalInpainter, telea
from models.classical.morphology import grown_box
from models.classical.plate import NETWORK_MAX, masked_median, warp_pixels


def plain_median(stack: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per pixel and channel: the invalid entries replaced by 0, 255, 0, ... in order, sorted, the
    middle one taken (what the docstring of `masked_median` promises)."""
    n, out = stack.shape[0], np.zeros(stack.shape[1:], np.uint8)
    for p in np.ndindex(stack.shape[1:]):
        column, pad = [], 0
        for k in range(n):
            if valid[(k, *p[:-1])]:
                column.append(int(stack[(k, *p)]))
            else:
                column.append(0 if pad % 2 == 0 else 255)
                pad += 1
        out[p] = sorted(column)[n // 2]
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 11, 15, 16, 17, 19, 24, 32, 33, 40, 63, NETWORK_MAX, NETWORK_MAX + 3])
def test_masked_median_matches_a_plain_sort(n: int) -> None:
    rng = np.random.default_rng(n)
    stack = rng.integers(0, 256, (n, 40, 3), dtype=np.uint8)
    valid = rng.random((n, 40)) > 0.35
    valid[:, 0] = True  # a pixel every source sees
    assert np.array_equal(masked_median(stack, valid), plain_median(stack, valid))


@pytest.mark.parametrize("n", [1, 4, 16])
def test_masked_median_chunk_by_chunk_is_the_whole_median(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The network runs on a few thousand positions at a time; chunks of 21 (a ragged last one)
    over an image-shaped stack give the plain sort's median, pixel for pixel."""
    rng = np.random.default_rng(100 + n)
    stack = rng.integers(0, 256, (n, 9, 11, 3), dtype=np.uint8)
    valid = rng.random((n, 9, 11)) > 0.4
    monkeypatch.setattr(plate_module, "NETWORK_CHUNK", 3 * 7)
    out = masked_median(stack, valid)
    assert out.shape == (9, 11, 3)
    assert np.array_equal(out.reshape(-1, 3), plain_median(stack.reshape(n, -1, 3), valid.reshape(n, -1)))


@pytest.mark.parametrize("cubic", [True, False])
def test_warp_pixels_are_warp_affine_bit_for_bit(cubic: bool) -> None:
    rng = np.random.default_rng(3)
    src = painted(90, 150, 5) if cubic else (rng.random((90, 150)) > 0.4).astype(np.uint8) * 255
    flags = (cv2.INTER_CUBIC if cubic else cv2.INTER_NEAREST) | cv2.WARP_INVERSE_MAP
    border = cv2.BORDER_REPLICATE if cubic else cv2.BORDER_CONSTANT
    for _ in range(4):  # sub-pixel shifts, a little zoom and rotation, parts outside the source
        m = np.array([[1 + rng.normal(0, 0.01), rng.normal(0, 0.01), rng.normal(0, 20)],
                      [rng.normal(0, 0.01), 1 + rng.normal(0, 0.01), rng.normal(0, 10)]])
        full = cv2.warpAffine(src, m, (140, 80), flags=flags, borderMode=border)
        wanted = rng.random((80, 140)) > 0.5
        ys, xs = np.nonzero(wanted)
        assert np.array_equal(warp_pixels(src, m, ys, xs, cubic=cubic), full[wanted])


def test_telea_on_the_box_is_telea_on_the_frame() -> None:
    image = painted(120, 200, 9)
    hole = np.zeros((120, 200), bool)
    hole[40:70, 60:100] = True
    hole[0:8, 150:170] = True  # touching the frame edge
    whole = cv2.inpaint(image, hole.astype(np.uint8) * 255, TELEA_RADIUS, cv2.INPAINT_TELEA)
    assert np.array_equal(telea(image, hole), whole)


def test_stitching_some_frames_gives_their_plates_of_the_whole_stitch() -> None:
    frames, masks, _, _ = shot(glow_frames=())
    everything = ClassicalInpainter().stitch(frames, masks)
    some = ClassicalInpainter().stitch(frames, masks, only=[7, 2])
    for k, (plate, confidence) in zip([7, 2], some, strict=True):
        assert np.array_equal(plate, everything[k][0])
        assert np.array_equal(confidence, everything[k][1])


def _pan_sources(n: int = 9) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Frames of a sub-pixel pan with a little rotation, their seen masks and their transforms."""
    frames, masks, _, _ = shot(n, glow_frames=())
    ts = []
    for j in range(n):
        c, s = np.cos(0.002 * j), np.sin(0.002 * j)
        ts.append(np.array([[c, -s, 3.3 * j + 0.4], [s, c, 1.2 * j + 0.7], [0.0, 0.0, 1.0]]))
    seen = [np.where(cv2.dilate(m.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0, 0, 255).astype(np.uint8)
            for m in masks]
    return frames, seen, ts


@pytest.mark.parametrize("sparse", [False, True])
def test_temporal_fill_is_the_median_of_whole_warps(sparse: bool) -> None:
    """The fill samples each source only where it sees the background, pads as `masked_median` pads
    and reads the box's pixels alone: the same fill and votes as warping every source over the whole
    box (warpAffine) and taking the masked median there. ``sparse``: two specks far apart, whose box
    is mostly unread (the sources' masks are then sampled at the read pixels alone)."""
    frames, seen, ts = _pan_sources()
    painter = ClassicalInpainter()
    hole = np.zeros(frames[0].shape[:2], bool)
    if sparse:
        hole[10:13, 12:15] = True
        hole[80:83, 140:143] = True
    else:
        cv2.ellipse(hole.view(np.uint8), (70, 50), (30, 22), 20, 0, 360, 1, -1)
    i = 4
    others = [(frames[j], seen[j], ts[j]) for j in range(len(frames)) if j != i]
    reach = painter._reach()
    assert reach is not None
    win = grown_box(hole, reach)
    box = grown_box(hole, 0)
    assert win is not None and box is not None
    fill, votes = painter._temporal_fill(hole, win, ts[i], others)

    y0, x0 = box[0].start, box[1].start
    bh, bw = box[0].stop - y0, box[1].stop - x0
    read = cv2.dilate(hole[box].view(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)) > 0
    assert (read.mean() < 1 / 8) == sparse  # both ways of sampling the masks are exercised
    at = np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
    stack: list[np.ndarray] = []
    valid: list[np.ndarray] = []
    for src, ok, t_j in others:
        m = (np.linalg.inv(t_j) @ ts[i] @ at)[:2]
        stack.append(cv2.warpAffine(src, m, (bw, bh), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                                    borderMode=cv2.BORDER_REPLICATE))
        valid.append(cv2.warpAffine(ok, m, (bw, bh), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP) > 0)
    inner = (slice(y0 - win[0].start, y0 - win[0].start + bh), slice(x0 - win[1].start, x0 - win[1].start + bw))
    median = masked_median(np.stack(stack).astype(np.uint8)[:, read], np.stack(valid)[:, read])
    assert np.array_equal(fill[inner][read], median)
    assert np.array_equal(votes[inner][read], np.stack(valid).sum(axis=0)[read])
    assert not fill[inner][~read].any() and not votes[inner][~read].any()
    assert 0 < votes[inner][read].min() < len(others)  # some sources miss some pixels: padding is exercised


def test_blend_on_the_ramp_is_the_blend_of_the_whole_window() -> None:
    """Blending the feather's ramp alone (filled inside the hole, the frame beyond the ramp) gives
    what the float blend of every pixel gives."""
    painter = ClassicalInpainter()
    frame, filled = painted(90, 150, 1), painted(90, 150, 2)
    hole = np.zeros((90, 150), bool)
    cv2.ellipse(hole.view(np.uint8), (60, 40), (25, 18), 30, 0, 360, 1, -1)
    hole[0:5, 120:150] = True  # at the edge of the window
    dist = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, 3)
    a = np.clip(1.0 - dist / float(painter.feather + 1), 0.0, 1.0)[..., None]
    whole = a * filled.astype(np.float32) + (1.0 - a) * frame.astype(np.float32)
    expected = np.asarray(np.clip(whole + 0.5, 0, 255), np.uint8)
    assert np.array_equal(painter._blend(frame, filled, hole), expected)
