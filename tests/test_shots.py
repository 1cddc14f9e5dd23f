"""Shot detection on synthetic anime-like sequences, and shot-list editing."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from app.ingest.shots import (
    CutDetector,
    cuts_to_shots,
    detect_cuts,
    merge_shots,
    split_shot,
)
from app.store.manifest import Shot

H, W = 90, 160


def scene(seed: int, width: int = W) -> np.ndarray:
    """A flat-shaded picture: gradient sky, ground band, a few coloured ellipses/boxes."""
    rng = np.random.default_rng(seed)
    img = np.zeros((H, width, 3), np.uint8)
    top, bottom = rng.integers(40, 230, 3), rng.integers(20, 200, 3)
    ramp = np.linspace(0, 1, H)[:, None, None]
    img[:] = (top * (1 - ramp) + bottom * ramp).astype(np.uint8)
    yy, xx = np.mgrid[0:H, 0:width]
    for _ in range(4 * width // W + 3):
        cy, cx = rng.integers(0, H), rng.integers(0, width)
        ry, rx = rng.integers(8, 30), rng.integers(8, 40)
        color = rng.integers(0, 256, 3)
        if rng.random() < 0.5:
            img[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1] = color
        else:
            img[max(0, cy - ry) : cy + ry, max(0, cx - rx) : cx + rx] = color
    return img


def shot(seed: int, n: int, *, held: int = 2) -> list[np.ndarray]:
    """n frames of one shot: a character-like blob moving over a still background, drawn on twos."""
    bg = scene(seed)
    frames = []
    for i in range(n):
        f = bg.copy()
        x = 20 + 3 * (i // held)
        f[30:70, x : x + 25] = (250, 220, 200)
        f[35:45, x + 5 : x + 20] = (30, 30, 30)
        frames.append(f)
    return frames


def test_hard_cut_splits() -> None:
    frames = shot(1, 20) + shot(2, 15) + shot(3, 10)
    assert detect_cuts(frames) == [20, 35]


def test_white_flash_does_not_split() -> None:
    frames = shot(1, 30)
    frames[12] = np.full_like(frames[0], 255)
    frames[13] = np.full_like(frames[0], 250)
    assert detect_cuts(frames) == []
    # ...but the same flash right before a real cut still lets the cut through.
    assert detect_cuts(frames + shot(5, 12)) == [30]


def test_fade_through_black_does_not_split() -> None:
    frames = shot(1, 40)
    for k in range(10):  # 10 frames: down to black and back up
        level = abs(k - 4.5) / 4.5
        frames[15 + k] = (frames[15 + k].astype(np.float32) * level).astype(np.uint8)
    assert detect_cuts(frames) == []


def test_impact_frames_do_not_split() -> None:
    frames = shot(7, 30)
    frames[10] = 255 - frames[10]  # inverted
    grey = frames[11].mean(axis=2, keepdims=True)
    frames[11] = np.where(grey > 100, 255, 0).astype(np.uint8).repeat(3, axis=2)  # extreme contrast
    frames[12] = 255 - frames[12]
    assert detect_cuts(frames) == []


def test_fast_pan_does_not_split_but_cut_inside_pan_does() -> None:
    wide = scene(11, width=4 * W)
    pan = [wide[:, x : x + W] for x in range(0, 3 * W, 24)]  # 15% of the width per frame
    assert detect_cuts(pan) == []
    other = scene(12, width=4 * W)
    pan2 = [other[:, x : x + W] for x in range(3 * W, 0, -24)]
    assert detect_cuts(pan + pan2) == [len(pan)]


def test_detector_is_streaming_and_bounded() -> None:
    det = CutDetector()
    frames = shot(1, 25) + shot(2, 25)
    sizes = []
    for k, f in enumerate(frames * 4):
        det.push(f)
        if k == 40:
            assert det.cuts == [25]  # decided while streaming, not only at the end
        if k in (99, 199):
            sizes.append(len(pickle.dumps(det)))
    # What the detector holds after 100 frames is what it holds after 200: memory does not grow with
    # the video (a few bytes of slack for the larger frame numbers and the longer list of cuts).
    assert sizes[1] - sizes[0] < 200, sizes
    assert det.finish() == [25, 50, 75, 100, 125, 150, 175]


def test_cuts_to_shots_split_merge() -> None:
    shots = cuts_to_shots([35, 20, 0, 99, 20], 50)
    assert shots == [Shot(0, 20), Shot(20, 35), Shot(35, 50)]
    assert cuts_to_shots([], 7) == [Shot(0, 7)]
    assert cuts_to_shots([3], 0) == []
    split = split_shot(shots, 27)
    assert split == [Shot(0, 20), Shot(20, 27), Shot(27, 35), Shot(35, 50)]
    assert split_shot(shots, 20) == shots  # already a boundary
    merged = merge_shots(split, 1)
    assert merged == shots
    assert merge_shots(merged, 0) == [Shot(0, 35), Shot(35, 50)]
    with pytest.raises(IndexError):
        merge_shots(merged, 2)
    assert shots == [Shot(0, 20), Shot(20, 35), Shot(35, 50)]  # inputs untouched


@pytest.mark.parametrize("seed", [12, 20, 22, 33])
def test_flash_and_impact_frames_in_fast_action_are_not_cuts(seed: int) -> None:
    """Generated action shots (camera and characters moving fast) with a white flash or a
    one-frame impact: the frames either side of it differ by 0.4-0.7 (not near-identical), yet
    far less than either differs from the flash, so the shot is not cut there."""
    from app.demo.generator import generate_shots

    video = generate_shots(seed, width=384, height=216, shots=3, frames_per_shot=10)
    kinds = {video.frame(i).kind for i in range(video.frame_count)}
    assert kinds & {"flash", "impact"}  # the clip really holds them
    assert detect_cuts(video.frame(i).image for i in range(video.frame_count)) == list(video.shot_starts[1:])
