"""The demo generator: determinism, exact ground truth, cuts, flash/impact frames, the demo project."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.demo.generator import LABEL_THRESHOLD, GeneratedFrame, GeneratedVideo, generate_shots
from app.demo.groundtruth import load_ground_truth, save_ground_truth
from app.demo.project import GROUND_TRUTH_FILE, create_demo_project, ensure_demo_project
from app.store import Project

SMALL = {"width": 192, "height": 108, "shots": 3, "frames_per_shot": 8}
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="module")
def video() -> GeneratedVideo:
    return generate_shots(7, **SMALL)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def frames(video: GeneratedVideo) -> list[GeneratedFrame]:
    return list(video)


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of the two frames' grey levels at 1/8 size, as cut detectors see them."""
    def small(im: np.ndarray) -> np.ndarray:
        g = im.astype(np.float32).mean(axis=2)
        return cv2.resize(g, (g.shape[1] // 8, g.shape[0] // 8), interpolation=cv2.INTER_AREA)
    return float(np.abs(small(a) - small(b)).mean())


def test_same_seed_gives_identical_bytes(frames: list[GeneratedFrame]) -> None:
    again = list(generate_shots(7, **SMALL))  # type: ignore[arg-type]
    for a, b in zip(frames, again, strict=True):
        for name in ("image", "labels", "alpha", "effects", "clean", "foreground", "effect_rgb"):
            assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), (a.index, name)
    other = generate_shots(8, **SMALL).frame(0)  # type: ignore[arg-type]
    assert other.image.tobytes() != frames[0].image.tobytes()


def test_random_access_matches_sequential(video: GeneratedVideo, frames: list[GeneratedFrame]) -> None:
    for i in (13, 2, 20):
        assert video.frame(i).image.tobytes() == frames[i].image.tobytes()


def test_image_is_the_composite_of_its_layers(frames: list[GeneratedFrame]) -> None:
    checked = 0
    for f in frames:
        assert f.image.dtype == np.uint8 and f.labels.dtype == np.uint8
        assert f.alpha.dtype == np.float32 and f.alpha.min() >= 0 and f.alpha.max() <= 1
        assert f.effects.min() >= 0 and f.effects.max() <= 1
        if f.kind == "impact":  # restyled on purpose; its layers describe the scene underneath
            continue
        a = f.alpha[..., None]
        comp = a * f.foreground + (1 - a) * f.clean.astype(np.float32) + f.effect_rgb
        assert np.abs(np.clip(np.round(comp), 0, 255) - f.image).max() <= 1, f.index
        checked += 1
    assert checked >= len(frames) - 2
    # Characters are really there: a good part of the frames has a sizeable matte.
    assert sum(float((f.alpha > 0.5).mean()) > 0.02 for f in frames) > len(frames) // 2


def test_labels_are_the_front_most_character_above_threshold(frames: list[GeneratedFrame]) -> None:
    occluded = 0
    soft = 0
    for f in frames:
        expected = np.zeros_like(f.labels)
        for cid in f.depth_order:  # back to front: the front-most character wins
            expected[f.object_alpha[cid] >= LABEL_THRESHOLD] = cid
        assert np.array_equal(f.labels, expected), f.index
        union = 1 - np.prod([1 - f.object_alpha[c] for c in f.depth_order], axis=0)
        assert np.abs(union - f.alpha).max() < 1e-4
        assert f.objects == sorted(int(v) for v in np.unique(f.labels) if v)
        both = [(f.object_alpha[c] >= LABEL_THRESHOLD) for c in f.depth_order]
        if len(both) >= 2:
            occluded += int(np.logical_and(both[0], both[-1]).sum() > 0)
        soft += int(((f.alpha > 0.05) & (f.alpha < 0.95)).sum())
    assert occluded > 0, "some frame should show one character in front of another"
    assert soft > 0, "hair strands and edges should give fractional alpha"


def test_cuts_are_at_shot_starts_and_much_stronger_than_motion(video: GeneratedVideo,
                                                               frames: list[GeneratedFrame]) -> None:
    assert video.shot_starts == [0, 8, 16]
    special = {f.index for f in frames if f.kind != "normal"}
    cut = [_diff(frames[s - 1].image, frames[s].image) for s in video.shot_starts[1:]]
    within = [_diff(frames[i - 1].image, frames[i].image) for i in range(1, len(frames))
              if i not in video.shot_starts and i not in special and i - 1 not in special]
    # Speed lines flicker and cameras pan inside shots, yet every cut stays far above that motion.
    assert min(cut) > 2.5 * max(within), (cut, max(within))
    assert np.mean(cut) > 5 * np.median(within), (cut, np.median(within))


def test_flash_and_impact_frames_are_inside_shots(video: GeneratedVideo, frames: list[GeneratedFrame]) -> None:
    kinds = {f.index: f.kind for f in frames if f.kind != "normal"}
    assert "flash" in kinds.values() and "impact" in kinds.values()
    for i, kind in kinds.items():
        assert i not in video.shot_starts, "a flash or impact frame must not start a shot"
        shot = video.shot_index(i)
        assert frames[i].shot == shot and frames[i - 1].shot == shot
        if kind == "flash":
            assert frames[i].effects.min() >= 0.45  # the flash covers the whole frame
            before = i - 1
            while frames[before].kind != "normal":
                before -= 1
            assert frames[before].shot == shot
            assert frames[i].image.mean() > frames[before].image.mean() + 30
        else:  # an impact frame is as different from its neighbour as a cut
            assert _diff(frames[i - 1].image, frames[i].image) > 30


def test_effects_are_present_and_additive(frames: list[GeneratedFrame]) -> None:
    normal = [f for f in frames if f.kind == "normal"]
    with_fx = [f for f in normal if f.effects.max() > 0.3]
    assert with_fx, "some normal frames should carry a glow, sparks or speed lines"
    brightest = 0
    for f in with_fx:
        lit = f.effect_rgb.max(axis=2) > 0
        assert np.all(f.effects[lit] > 0)
        bare = lit & (f.alpha == 0)  # over the bare background, added light only brightens
        gain = f.image[bare].astype(np.int16) - f.clean[bare].astype(np.int16)
        assert np.all(gain >= 0)
        brightest = max(brightest, int(gain.max(initial=0)))
    assert brightest > 40, "effects should be clearly visible over the background"


def test_ground_truth_round_trip(tmp_path: Path) -> None:
    video = generate_shots(1, width=96, height=64, shots=2, frames_per_shot=6)
    path = tmp_path / "gt.h5"
    save_ground_truth(video, path)
    with load_ground_truth(path) as gt:
        assert len(gt) == 12 and gt.shot_starts == [0, 6]
        assert [c["name"] for c in gt.meta["cast"]] == [c.name for c in video.cast]
        for i in (0, 7, 11):
            want, got = video.frame(i), gt.frame(i)
            for name in ("image", "labels", "alpha", "effects", "clean", "foreground", "effect_rgb"):
                assert np.array_equal(getattr(want, name), getattr(got, name)), (i, name)
            assert got.objects == want.objects and got.kind == want.kind and got.shot == want.shot


def test_demo_project_opens_with_the_store(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    create_demo_project(root, seed=2, width=160, height=90, shots=2, frames_per_shot=6).close()
    video = generate_shots(2, width=160, height=90, shots=2, frames_per_shot=6)
    with Project.open(root) as project:
        m = project.manifest
        assert m.source.kind == "generated" and m.frame_count == 12 and (m.width, m.height) == (160, 90)
        assert [(s.start, s.end) for s in m.shots] == [(0, 6), (6, 12)]
        # The true cast is not the project's to know: only the ground-truth file holds it.
        assert m.objects == [] and "cast" not in json.dumps(m.settings)
        for i in (0, 6, 11):
            assert np.array_equal(project.frame(i), video.frame(i).image)  # lossless
        assert project.proxy(3).shape == (90, 160, 3)
        assert project.thumbnail(3).shape[0] == 54
        assert project.shot_of(7).start == 6
    with load_ground_truth(root / GROUND_TRUTH_FILE) as gt:
        assert gt.frame_count == 12
        assert [c["name"] for c in gt.meta["cast"]] == [c.name for c in video.cast]


def test_ensure_demo_project_builds_once(tmp_path: Path) -> None:
    small = {"width": 96, "height": 54, "shots": 2, "frames_per_shot": 6}
    root = ensure_demo_project(tmp_path, **small)
    assert root == tmp_path / "demo" and (root / "project.json").is_file()
    stamp = (root / "project.json").stat().st_mtime_ns
    assert ensure_demo_project(tmp_path, **small) == root
    assert (root / "project.json").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]  # no temporary folder left behind


def test_characters_from_a_folder() -> None:
    folder = SHARED / "data" / "anime" / "characters"
    if not folder.is_dir():
        pytest.skip(f"shared character data not found at {folder}")
    video = generate_shots(0, width=192, height=108, shots=2, frames_per_shot=6, character_dir=folder)
    stems = {p.stem for p in folder.glob("*.png")}
    assert {c.identity for c in video.cast} <= stems
    f = video.frame(3)
    a = f.alpha[..., None]
    comp = a * f.foreground + (1 - a) * f.clean.astype(np.float32) + f.effect_rgb
    if f.kind != "impact":
        assert np.abs(np.clip(np.round(comp), 0, 255) - f.image).max() <= 1
    assert (f.labels > 0).sum() > 100


def test_unreadable_ground_truth_is_a_user_error(tmp_path: Path) -> None:
    from app.errors import InputError

    bad = tmp_path / "gt.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(InputError):
        load_ground_truth(bad)
