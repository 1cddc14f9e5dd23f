"""No false light on anime without effects: a burnt-in caption that comes and goes is no light (on
onepiece_demo.mp4 its glyphs' edges were a fifth of the effect layer's false pixels), and the
effects stage hands the separator each frame's text objects."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from test_matte_stage import drawn_project
from test_pipeline_runner import Annotator, Calls, Clicker, Inpaint, Matter, Propagator, Seg

from app.pipeline.runner import PipelineRunner
from models.classical.effect_light import EffectLight
from models.classical.effects import ClassicalEffectSeparator

H, W, N = 180, 320, 12
WALL = (120, 90, 70)


def draw_caption(frame: np.ndarray, text: np.ndarray) -> None:
    """Glyphs into ``frame`` and their places into ``text``, in place: white strokes with a dark rim."""
    for x in range(100, 220, 12):
        text[140:160, x : x + 8] = True
        frame[139:161, x - 1 : x + 9] = (20, 20, 20)
        frame[140:160, x + 1 : x + 7] = (250, 250, 250)


def caption_shot() -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """A still wall, no characters; a white caption in the lower third in frames 4-7 only."""
    rng = np.random.default_rng(5)
    bg = np.clip(np.array(WALL, np.float32) + rng.normal(0, 3, (H, W, 3)), 0, 255).astype(np.uint8)
    frames, masks, text = [], [], []
    for k in range(N):
        f = bg.copy()
        t = np.zeros((H, W), bool)
        if 4 <= k < 8:
            draw_caption(f, t)
        frames.append(f)
        masks.append(np.zeros((H, W), bool))
        text.append(t)
    return frames, masks, text


def test_a_caption_is_not_light() -> None:
    frames, masks, text = caption_shot()
    sep = ClassicalEffectSeparator()
    without = sep.separate_shot_light(frames, masks, [np.eye(3)] * N)
    # Without the text masks the caption reads as light (the check that the scene tests anything).
    assert sum(int((without[k].strength >= 0.25).sum()) for k in range(4, 8)) > 200
    lights = sep.separate_shot_light(frames, masks, [np.eye(3)] * N, text=text)
    false = [int((light.strength > 0).sum()) for light in lights]
    assert sum(false) == 0, false



def test_a_caption_shown_through_most_of_a_shot_leaves_no_light_in_the_frames_without_it() -> None:
    """The caption of `caption_shot` in frames 0-8 of 12 over a lighter wall: kept in the plate's median,
    its dark rims' places read as light in frames 9-11 (1,000 px a frame before the text masks were kept
    out of the plate)."""
    rng = np.random.default_rng(9)
    wall = np.clip(np.array((160, 150, 140), np.float32) + rng.normal(0, 3, (H, W, 3)), 0, 255).astype(np.uint8)
    wall[0:6] = 10  # some line art: a frame with no black is a flash
    frames, masks, text = [], [], []
    for k in range(N):
        f = wall.copy()
        t = np.zeros((H, W), bool)
        if k < 9:
            draw_caption(f, t)
        frames.append(f)
        masks.append(np.zeros((H, W), bool))
        text.append(t)
    lights = ClassicalEffectSeparator().separate_shot_light(frames, masks, [np.eye(3)] * N, text=text)
    false = [int((light.strength > 0).sum()) for light in lights]
    assert sum(false) == 0, false


class TextSeparator:
    """A shot-level separator with light colours that records the text masks it is handed, by the
    picture id each frame carries in its red channel."""

    def __init__(self) -> None:
        self.text: dict[int, np.ndarray | None] = {}

    def load(self, device: str = "cpu") -> None:
        """Nothing to load."""

    def release(self) -> None:
        """Nothing to release."""

    def separate(self, image: np.ndarray, character_mask: np.ndarray, plate: np.ndarray | None) -> np.ndarray:
        return np.zeros(character_mask.shape, np.float32)

    def separate_shot(self, frames: Sequence[np.ndarray], masks: Sequence[np.ndarray], **kw: Any) -> list[np.ndarray]:
        return [light.strength for light in self.separate_shot_light(frames, masks, **kw)]

    def separate_shot_light(self, frames: Sequence[np.ndarray], masks: Sequence[np.ndarray],
                            transforms: Sequence[np.ndarray] | None = None, max_plate_frames: int = 16,
                            text: Sequence[np.ndarray] | None = None) -> list[EffectLight]:
        for k, f in enumerate(frames):
            self.text[int(f[0, 0, 0])] = None if text is None else np.asarray(text[k]).copy()
        return [EffectLight(np.zeros(m.shape, np.float32), np.zeros((*m.shape, 3), np.uint8)) for m in masks]


def test_the_effects_stage_hands_the_separator_each_frames_burnt_in_text(tmp_path: Path) -> None:
    project = drawn_project(tmp_path / "p")
    calls, separator = Calls(), TextSeparator()
    backends = {
        "segmenter": Seg(calls), "matter": Matter(calls), "inpainter": Inpaint(calls), "effects": separator,
        "annotator": Annotator(calls), "clicker": Clicker(), "propagator": Propagator(),
    }
    runner = PipelineRunner(project, backends=backends).start()
    try:
        runner.submit_run(["segment", "propagate"]).wait(60)
        assert runner.wait_idle()
        labels = project.masks_or_empty(7).copy()
        labels[0:4, 0:10] = project.add_object("caption", kind="text").id
        project.layers.write("masks", 7, labels)
        runner.submit_run(["effects"], force=True).wait(60)
        assert runner.wait_idle()
    finally:
        runner.stop()
        project.close()
    caption = np.zeros(labels.shape, bool)
    caption[0:4, 0:10] = True
    assert separator.text[7] is not None and np.array_equal(separator.text[7], caption)
    assert separator.text[3] is not None and not separator.text[3].any()


SHIRT = (230, 228, 218)
INK = (25, 20, 30)
PINK = np.array([255, 120, 200], np.float32)


def shifting_outline_shot() -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """A still character (a white shirt in a dark outline, a face) over a dark wall; every other pair of
    drawings draws its right side 2 px further out, past the mask, which stays the same. The wall
    round the character is never seen uncovered, so there the reference is the frame's own guess.
    In frames 5-7 a pink glow lights the wall 16-60 px left of the character. Returns the frames, the
    masks and the glow's strength per frame."""
    rng = np.random.default_rng(7)
    wall = np.clip(np.array((90, 80, 100), np.float32) + rng.normal(0, 3, (H, W, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((H, W), bool)
    mask[40:170, 120:200] = True
    yy, xx = np.mgrid[0:H, 0:W]
    glow = np.clip(1.0 - np.hypot(yy - 100.0, xx - 80.0) / 22.0, 0.0, 1.0).astype(np.float32) * 0.6
    frames, masks, strengths = [], [], []
    for k in range(N):
        f = wall.copy()
        right = 202 if k % 4 >= 2 else 200
        f[38:172, 118 : right + 2] = INK
        f[40:170, 120:right] = SHIRT
        f[60:80, 140:180] = (200, 150, 120)
        light = glow if 5 <= k < 8 else np.zeros((H, W), np.float32)
        frames.append(np.clip(f + light[..., None] * PINK + 0.5, 0, 255).astype(np.uint8))
        masks.append(mask.copy())
        strengths.append(light)
    return frames, masks, strengths


def test_an_outline_drawn_past_the_mask_is_no_light_where_the_wall_is_a_guess() -> None:
    frames, masks, strengths = shifting_outline_shot()
    ts = [np.eye(3)] * N
    past = np.zeros((H, W), bool)
    past[40:170, 200:202] = True  # the shirt drawn past the mask in the shifted drawings
    # Without the rule the 2 px strip of shirt reads as light against the frame's guess of the wall
    # (the check that the scene tests anything).
    without = ClassicalEffectSeparator(guess_fringe=0).separate_shot_light(frames, masks, ts)
    assert sum(int((without[k].strength[past] >= 0.25).sum()) for k in (2, 3, 6, 10, 11)) > 1000
    lights = ClassicalEffectSeparator().separate_shot_light(frames, masks, ts)
    near = np.zeros((H, W), bool)
    near[30:180, 108:212] = True  # the character and 10 px round it
    false = [int((light.strength[near] > 0).sum()) for light in lights]
    assert sum(false) == 0, false
    # The glow on the wall beyond the guessed fringe is still found.
    for k in range(5, 8):
        true = strengths[k] >= 0.25
        found = int((lights[k].strength[true] >= 0.25).sum())
        assert found > 0.8 * int(true.sum()), (k, found, int(true.sum()))
    assert all(int((lights[k].strength >= 0.25).sum()) == 0 for k in (0, 1, 2, 3, 4, 8, 9, 10, 11))
