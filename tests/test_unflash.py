"""A whole-frame white flash undone before the segment stage looks at a shot (`unflash.unflash_shot`)."""

from __future__ import annotations

import numpy as np
from test_classical_segmentation import characters, iou, make_shot

from models.base import FrameSegmentation
from models.classical.segmentation import ClassicalSegmenter
from models.classical.unflash import unflash_shot


def flashed(image: np.ndarray, f: float) -> np.ndarray:
    """The generator's white flash: every pixel lifted towards white by ``f``."""
    img = image.astype(np.float32)
    return np.clip(img + f * (255.0 - img) + 0.5, 0, 255).astype(np.uint8)


def test_a_flash_is_undone_and_other_frames_are_left_as_they_are() -> None:
    frames, _, _ = make_shot(glow_frames=())
    shot = list(frames)
    shot[6] = flashed(frames[6], 0.5)
    out = unflash_shot(shot)
    assert all(out[i] is shot[i] for i in range(len(shot)) if i != 6)
    assert float(np.abs(out[6].astype(np.int16) - frames[6].astype(np.int16)).mean()) < 3.0
    assert float(np.abs(shot[6].astype(np.int16) - frames[6].astype(np.int16)).mean()) > 30.0
    # Nothing is left to undo in a flash that leaves 1 % of the range (above `MAX_FLASH` 0.97), nor
    # in a shot without one.
    shot[6] = flashed(frames[6], 0.99)
    assert unflash_shot(shot)[6] is shot[6]
    assert all(a is b for a, b in zip(unflash_shot(frames), frames, strict=True))


def test_a_strong_flash_is_undone_for_the_segmenter_but_not_for_the_plate() -> None:
    # The generator's 0.95 flash leaves 13 levels of the range: undone, each level is 20, so the
    # frame comes back within a few levels; the frames the shot's plate reads keep it as it is
    # (`MAX_PLATE_FLASH`: undone into the plate, its noise made seed 21's shot look still).
    frames, _, _ = make_shot(glow_frames=())
    shot = list(frames)
    shot[6] = flashed(frames[6], 0.95)
    out = unflash_shot(shot)
    assert float(np.abs(out[6].astype(np.int16) - frames[6].astype(np.int16)).mean()) < 8.0
    assert unflash_shot(shot, for_plate=True)[6] is shot[6]


def test_a_character_under_a_flash_is_found_where_it_is() -> None:
    # The character walks 5 px a frame; in the flash frame its mask used to be the last tracked
    # frame's, warped by the camera alone: a step behind it.
    frames, masks, _ = make_shot(n=12, glow_frames=())
    frames[6] = flashed(frames[6], 0.5)
    out = ClassicalSegmenter(workers=1).segment_shot(frames)
    assert iou(characters(out[6]), masks[6]) > 0.9
    assert iou(characters(out[5]), masks[5]) > 0.9


def test_a_character_under_a_strong_flash_is_found_where_it_is() -> None:
    # The same walk under the generator's 0.95 flash (left to the warp before `MAX_FLASH` 0.97: 0.52).
    frames, masks, _ = make_shot(n=12, glow_frames=())
    frames[6] = flashed(frames[6], 0.95)
    out = ClassicalSegmenter(workers=1).segment_shot(frames)
    assert iou(characters(out[6]), masks[6]) > 0.9


def noisy_flash(image: np.ndarray, f: float, noise: np.ndarray) -> np.ndarray:
    """A flash of strength ``f`` with ``noise`` (levels of the flashed frame) added before it is rounded:
    a codec's blocks, which undoing the flash stretches by ``1 / (1 - f)``."""
    img = image.astype(np.float32)
    return np.clip(img + f * (255.0 - img) + noise + 0.5, 0, 255).astype(np.uint8)


def objects(out: list[FrameSegmentation]) -> list[set[int]]:
    return [set(o.kinds) for o in out]


def test_no_object_is_born_on_a_strong_flash_undone() -> None:
    # A blotch two levels dark in the 0.95 flash's background is 40 levels once undone: a piece of
    # nothing that used to become an object of that frame alone (seed 522's "Effect 1").
    frames, masks, _ = make_shot(n=12, glow_frames=())
    noise = np.zeros((*masks[6].shape, 3), np.float32)
    noise[20:50, 100:140] = -2.0
    frames[6] = noisy_flash(frames[6], 0.95, noise)
    out = ClassicalSegmenter(workers=1).segment_shot(frames)
    assert all(ids == objects(out)[5] for ids in objects(out))
    assert iou(characters(out[6]), masks[6]) > 0.95


def test_a_strong_flash_undone_into_noise_keeps_the_characters_where_they_were() -> None:
    # Blocks of up to three levels over the whole 0.95 flash (H.264's on the generator's flash frames):
    # undone, the frame agrees with the plate over half of what the others do, and its character was
    # lost (IoU 0.0); its objects are now the last tracked drawing's, warped by the camera.
    frames, masks, _ = make_shot(n=12, glow_frames=())
    h, w = masks[6].shape
    blocks = np.random.default_rng(1).uniform(-3, 3, (h // 12 + 1, w // 12 + 1, 3)).astype(np.float32)
    frames[6] = noisy_flash(frames[6], 0.95, np.kron(blocks, np.ones((12, 12, 1)))[:h, :w])
    out = ClassicalSegmenter(workers=1).segment_shot(frames)
    assert all(ids == objects(out)[5] for ids in objects(out))
    assert iou(characters(out[6]), masks[6]) > 0.45
