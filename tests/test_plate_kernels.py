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
    """The network runs on a few thousand pixels at a time; chunks of 7 pixels (a ragged last one)
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
