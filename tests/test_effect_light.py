"""The RGBA light layer: a colour per effect, a strength per pixel, kept through time, stored and exported."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from app.demo.groundtruth import load_ground_truth
from app.demo.project import GROUND_TRUTH_FILE, create_demo_project
from app.export import export_project
from app.pipeline.runner import PipelineRunner
from app.pipeline.stages.effects import read_light
from models.classical.effect_light import EffectLight, composite_light, separate_light
from models.classical.effect_time import keep_lasting_groups

H, W = 90, 160
PINK, CYAN = np.array([255, 110, 200], np.float32), np.array([90, 200, 255], np.float32)


def under_layer() -> np.ndarray:
    """A mid-toned painted background (no channel near white, so no light is clipped)."""
    rng = np.random.default_rng(3)
    noise = cv2.resize(rng.normal(0, 1, (12, 20, 3)).astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC)
    return np.clip(np.array([90, 100, 80], np.float32) + 25 * noise, 0, 200).astype(np.uint8)


def blob(cx: int, cy: int, sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2)).astype(np.float32)


def test_each_effect_gets_its_colour_and_the_strength_is_its_alpha() -> None:
    under = under_layer()
    pink, cyan = 0.8 * blob(40, 45, 9.0), 0.6 * blob(120, 40, 7.0)
    frame = np.clip(under + pink[..., None] * PINK + cyan[..., None] * CYAN + 0.5, 0, 255).astype(np.uint8)
    # A luminance reading of the same light (what the layer was before) gives the detections.
    detected = np.clip((frame.astype(np.float32) - under).mean(axis=2) / 100.0, 0, 1)
    light = separate_light(frame, under, detected)
    assert np.abs(light.colour[45, 40].astype(np.float32) - PINK).max() <= 6
    assert np.abs(light.colour[40, 120].astype(np.float32) - CYAN).max() <= 6
    truth = np.maximum(pink, cyan)
    strong = truth > 0.1
    assert np.abs(light.strength[strong] - truth[strong]).max() < 0.05
    # The layer composited additively over what is under it gives the frame back.
    error = np.abs(composite_light(under, light).astype(np.int16) - frame)
    assert error[truth > 0.1].max() <= 2 and error.max() <= 6  # the faint rims below detection
    rgba = light.rgba()
    assert rgba.shape == (H, W, 4) and rgba[45, 40, 3] == round(255 * light.strength[45, 40])
    # Broken on purpose: one white colour for both (a luminance gain) misreads the strengths.
    white = EffectLight(light.strength, np.full_like(light.colour, 255))
    assert np.abs(composite_light(under, white).astype(np.int16) - frame).max() > 30


def test_light_over_white_is_only_a_lower_bound() -> None:
    under = np.full((H, W, 3), 245, np.uint8)
    frame = np.clip(under + 0.7 * blob(80, 45, 10.0)[..., None] * PINK, 0, 255).astype(np.uint8)
    light = separate_light(frame, under, blob(80, 45, 10.0))
    # Every channel reached white: 10 levels of pink light already do that, more cannot be told.
    assert 0.0 < float(light.strength[45, 80]) <= 0.1


def test_bursts_that_last_are_kept_and_lone_specks_dropped() -> None:
    maps = [np.zeros((H, W), np.float32) for _ in range(6)]
    for t in (1, 2, 3):  # three sparks a frame, drifting apart, 9 px each: small, but lasting
        for k, (dx, dy) in enumerate(((1, 0), (-1, 1), (0, -1))):
            x, y = 80 + 3 * t * dx + 8 * k, 45 + 3 * t * dy
            maps[t][y - 1 : y + 2, x - 1 : x + 2] = 1.0
    maps[4][10:13, 10:13] = 1.0  # a lone speck in one frame
    maps[5][:, :] = 0.6  # a flash: left alone, and it joins nothing
    out = keep_lasting_groups(maps, min_pixels=40.0, reach=4)
    for t in (1, 2, 3):
        assert np.array_equal(out[t], maps[t])
    assert not out[4].any()
    assert np.array_equal(out[5], maps[5])
    # Judged frame by frame (no time), the same sparks are specks too.
    alone = [keep_lasting_groups([m], min_pixels=40.0, reach=4)[0] for m in maps[1:4]]
    assert not any(m.any() for m in alone)


def test_the_view_draws_light_in_its_own_colours() -> None:
    from app.ui.render import render_light

    strength = np.array([[0, 64, 255]], np.uint8)
    colour = np.array([[[255, 110, 200]] * 3], np.uint8)
    rgba = render_light(strength, colour)
    assert rgba[0, 0, 3] == 0 and not rgba[0, 0, :3].any()
    # A quarter-strength light shows at half opacity (premultiplied), full light as its colour.
    assert abs(int(rgba[0, 1, 3]) - 128) <= 1 and abs(int(rgba[0, 1, 0]) - 128) <= 1
    assert tuple(rgba[0, 2]) == (255, 110, 200, 255)


def test_the_effects_stage_stores_and_exports_the_rgba_layer(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    project = create_demo_project(root, seed=404, width=160, height=96, shots=1, frames_per_shot=8)
    try:
        with load_ground_truth(root / GROUND_TRUTH_FILE) as gt:
            for member in gt.meta["cast"]:  # the true masks need the true objects to export
                project.add_object(member["name"], "character", tuple(member["colour"]))
            project.save_manifest()
            for i in range(project.frame_count):
                project.layers.write("masks", i, gt.layer("labels", i), {"backend": "truth", "version": 1})
        runner = PipelineRunner(project).start()
        runner.submit_run(["effects"]).wait()
        runner.wait_idle(600)
        runner.stop()
        lit = []
        for i in range(project.frame_count):
            strength, colour = read_light(project, i)
            assert strength is not None and colour is not None and colour.shape == (96, 160, 3)
            # The colour is there exactly where there is light, at full brightness.
            assert not colour[strength == 0].any()
            if (strength > 0).any():
                assert colour[strength > 0].max(axis=1).min() >= 250
                lit.append(i)
        assert lit, "the demo shot has effects"
        out = tmp_path / "layers"
        export_project(project, out, format="layers", frames=lit[:1], allow_stale=True)
        data = cv2.imread(str(out / "effects_rgba" / f"f{lit[0]:06d}.png"), cv2.IMREAD_UNCHANGED)
        assert data is not None and data.shape == (96, 160, 4)
        png = cv2.cvtColor(data, cv2.COLOR_BGRA2RGBA)
        strength, colour = read_light(project, lit[0])
        assert strength is not None and colour is not None
        assert np.array_equal(png[..., 3], strength) and np.array_equal(png[..., :3], colour)
        # A backend without colours (or an edit) leaves the old colour behind: it is not used.
        project.layers.write("effects", lit[0], strength, {"backend": "other"})
        assert read_light(project, lit[0])[1] is None
    finally:
        project.close()
