"""The effects stage works in boxes (the characters', the detections') at 1080p: every figure must be
the one the whole frame gives."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.classical.effect_light import clear_unlit, colour_groups, project_light, separate_light
from models.classical.effect_time import explained, keep_lasting_groups, middle, upsample_box
from models.classical.effects import ClassicalEffectSeparator, character_box
from models.classical.morphology import dilate_boxed
from models.classical.plate import masked_median

H, W = 90, 160


def painted(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = cv2.resize(rng.normal(0, 1, (12, 20, 3)).astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC)
    return np.clip(np.array([90, 100, 80], np.float32) + 30 * noise, 0, 220).astype(np.uint8)


def spot(cx: int, cy: int, sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2)).astype(np.float32)


@pytest.mark.parametrize("centre", [(60, 45), (8, 45), (150, 84)])  # inside, at the left edge, in a corner
def test_a_drawing_given_in_the_characters_box_gives_the_whole_frames_light(centre: tuple[int, int]) -> None:
    plate = painted(0)
    mask = np.zeros((H, W), np.uint8)
    cv2.ellipse(mask, centre, (22, 30), 0, 0, 360, 1, -1)
    drawing = plate.copy()
    drawing[mask > 0] = (150, 90, 70)
    cv2.line(drawing, (centre[0] - 15, centre[1]), (centre[0] + 15, centre[1]), (20, 20, 20), 2)  # line art
    # Sparks over the character and a glow beside it; the neighbours show the drawing a pixel off.
    light = np.maximum(spot(centre[0] + 6, centre[1] - 8, 3.0), spot(centre[0] + 40, centre[1] + 10, 6.0))
    image = np.clip(drawing + light[..., None] * np.array([120, 160, 200], np.float32), 0, 255).astype(np.uint8)
    neighbours = [np.roll(drawing, d, axis=1) for d in (-1, 0, 1, 0)]
    sep = ClassicalEffectSeparator()
    whole = sep.separate_light(image, mask > 0, plate, middle(neighbours), alone=False, neighbours=neighbours)
    box = character_box(mask > 0)
    assert box is not None
    at = np.s_[box[0] : box[1], box[2] : box[3]]
    boxed = sep.separate_light(image, mask > 0, plate, middle([n[at] for n in neighbours]), alone=False,
                               neighbours=[n[at] for n in neighbours], box=box)
    assert (whole.strength[mask > 0] > 0.25).any(), "the sparks over the character are found"
    np.testing.assert_array_equal(boxed.strength, whole.strength)
    np.testing.assert_array_equal(boxed.colour, whole.colour)


def test_the_light_layer_computed_in_the_detections_box_is_the_whole_frames() -> None:
    under = painted(1)
    light = np.maximum(spot(30, 20, 4.0), 0.8 * spot(120, 70, 7.0))
    image = np.clip(under + light[..., None] * np.array([255, 120, 200], np.float32), 0, 255).astype(np.uint8)
    detected = np.where(light > 0.1, light, 0.0).astype(np.float32)
    keep = np.clip(1.2 - spot(120, 70, 3.0), 0, 1).astype(np.float32)
    got = separate_light(image, under, detected, keep)
    delta = image.astype(np.float32) - under.astype(np.float32)
    lab, table = colour_groups(detected, delta, image)
    want = project_light(delta, image, table[lab]) * (lab > 0) * keep
    assert (got.strength > 0.5).sum() > 50
    np.testing.assert_array_equal(got.strength, want.astype(np.float32))
    np.testing.assert_array_equal(got.colour, np.clip(np.rint(table[lab]), 0, 255).astype(np.uint8))
    nothing = separate_light(image, under, np.zeros((H, W), np.float32))
    assert not nothing.strength.any() and not nothing.colour.any()


@pytest.mark.parametrize("kernel", [cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (15, 15)), np.ones((5, 5), np.uint8),
                                    np.ones((4, 6), np.uint8)])
def test_dilating_in_the_box_is_dilating_the_frame(kernel: np.ndarray) -> None:
    rng = np.random.default_rng(5)
    for y, x in ((40, 80), (0, 3), (88, 157)):
        mask = np.zeros((H, W), np.uint8)
        mask[y : y + rng.integers(1, 6), x : x + rng.integers(1, 9)] = 1
        np.testing.assert_array_equal(dilate_boxed(mask, kernel), cv2.dilate(mask, kernel))
    assert not dilate_boxed(np.zeros((H, W), np.uint8), kernel).any()


def test_the_middle_of_a_few_images_is_their_median() -> None:
    rng = np.random.default_rng(6)
    for n in range(1, 7):
        stack = rng.integers(0, 256, (n, 8, 9, 3), dtype=np.uint8)
        np.testing.assert_array_equal(middle(list(stack)), masked_median(stack, np.ones(stack.shape[:3], bool)))


def test_explained_pixels_are_those_a_neighbour_shows_within_a_pixel() -> None:
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    neighbours = [np.clip(image.astype(int) + rng.integers(-30, 31, image.shape), 0, 255).astype(np.uint8)
                  for _ in range(2)]
    where = rng.random((30, 40)) < 0.5
    got = explained(image, neighbours, where)
    want = np.zeros((30, 40), bool)
    for y, x in zip(*np.nonzero(where), strict=True):
        for n in neighbours:
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    yy, xx = min(29, max(0, y + dy)), min(39, max(0, x + dx))
                    want[y, x] |= bool(np.abs(image[y, x].astype(int) - n[yy, xx].astype(int)).max() <= 12)
    assert 0 < want[where].sum() < where.sum()
    np.testing.assert_array_equal(got[where], want[where])


@pytest.mark.parametrize("factor", [2, 4, 3])  # powers of two crop the small flow; 3 resizes it whole
def test_upsampling_the_flow_under_a_box_gives_the_whole_frames_values(factor: int) -> None:
    rng = np.random.default_rng(8)
    small = rng.normal(0, 4, (27, 48, 2)).astype(np.float32)
    size = (27 * factor, 48 * factor)
    whole = cv2.resize(small, size[::-1], interpolation=cv2.INTER_LINEAR)
    for box in ((0, size[0], 0, size[1]), (5, 31, 17, 90), (size[0] - 3, size[0], 0, 7), (0, 1, size[1] - 1, size[1])):
        got = upsample_box(small, size, box)
        np.testing.assert_array_equal(got, whole[box[0] : box[1], box[2] : box[3]])


def test_a_dropped_specks_halo_goes_with_it_up_to_the_edge_of_its_reach() -> None:
    reach = 3
    speck = np.zeros((H, W), np.float32)
    speck[28:33, 38:43] = 0.1  # a faint halo reaching 2 px beyond the speck's group (speck + reach)...
    speck[30:31, 40:41] = 0.9  # ...around a lone speck
    lasting = np.zeros((H, W), np.float32)
    lasting[60:80, 100:140] = 0.8  # an effect big enough to stay
    out = keep_lasting_groups([speck + lasting, lasting, lasting], min_pixels=100, reach=reach)
    assert not out[0][20:40, 30:50].any(), "the speck and its halo are dropped"
    np.testing.assert_array_equal(out[0][60:80, 100:140], lasting[60:80, 100:140])
    far = speck.copy()
    far[5, 5] = 0.05  # faint light outside any group stays
    assert keep_lasting_groups([far, far], min_pixels=100, reach=reach)[0][5, 5] == np.float32(0.05)


def test_colour_is_cleared_exactly_where_the_stored_strength_is_zero() -> None:
    rng = np.random.default_rng(9)
    strength = (rng.random((H, W)) * 0.01).astype(np.float32)
    half = np.float32(0.5) / np.float32(255.0)
    strength[0, :4] = [half, np.nextafter(half, np.float32(1.0)), np.nextafter(half, np.float32(0.0)), 1.0]
    colour = rng.integers(1, 256, (H, W, 3), dtype=np.uint8)
    want = colour.copy()
    want[np.rint(strength * 255.0) == 0] = 0
    clear_unlit(colour, strength)
    np.testing.assert_array_equal(colour, want)
    assert colour.any() and not colour.all()
