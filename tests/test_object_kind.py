"""An object's kind changed (round 14): the stages that read kinds go stale exactly where the object is,
the app re-runs them by itself, and undo and redo bring back the kind and what was stale.

On a clip imported from an mp4: a character on every frame and a ring of burnt-in text on every
frame of shot 1 (its inside is background the plate keeps while it is text); every stage from propagate on has run."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from stage_steps import count_steps

from app.pipeline.graph import FRESH, KIND_STAGES, KIND_VIEWS, STAGES, stage_status, stale_frames
from app.pipeline.runner import PipelineRunner
from app.pipeline.stages.common import MASK_VIEWS
from app.store import Project
from app.store.history_text import history_outcome
from app.store.objects import KINDS

pytest.importorskip("av")

RUN = [s for s in STAGES if s != "segment"]  # the segment stage's labels are written by hand here
TEXT_FRAMES = [0, 1, 2, 3, 4, 5]  # all of shot 1: no frame of it shows what the ring encloses


RING = (72, 80)  # its centre (row, column): the floor starts below row 72


def _ring(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    d = np.hypot(yy - RING[0], xx - RING[1])
    return (d <= 12) & (d >= 6)  # an "O" across the floor's edge: the background shows through its inside


@pytest.fixture(scope="module")
def ring_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`anime_clip` with a white ring of subtitle on shot 1, round a red lamp of the background (what
    the plate keeps inside the letter while it is text), imported once from an mp4 (left closed)."""
    from clips import write_mp4
    from ui_fixtures import anime_clip

    from app.ingest.importer import import_source

    frames = anime_clip()
    h, w = frames[0].shape[:2]
    ring = _ring(h, w)
    for f in TEXT_FRAMES:
        frames[f][ring] = (250, 250, 250)
        frames[f][RING[0] - 3:RING[0] + 3, RING[1] - 3:RING[1] + 3] = (220, 30, 30)
    folder = tmp_path_factory.mktemp("ring")
    import_source(write_mp4(folder / "clip.mp4", frames, fps=12.0), folder / "clip", name="clip").close()
    return folder / "clip"


@pytest.fixture
def ring_project(ring_template: Path, tmp_path: Path) -> Path:
    root = tmp_path / "clip"
    shutil.copytree(ring_template, root)
    return root


def _with_text(root: Path) -> tuple[int, int]:
    """Stage 1's labels (the character, track 1, on every frame; the text ring, track 2, on shot 1)
    registered as objects, and every stage from propagate on run. Returns (character, text)."""
    with Project.open(root) as p:
        ring = _ring(p.height, p.width)
        for f in range(p.frame_count):
            seg = np.zeros((p.height, p.width), np.uint8)
            seg[40:80, 10 + f:40 + f] = 1
            if f in TEXT_FRAMES:
                seg[ring] = 2
            p.layers.write("segmentation", f, seg, {"source": "pipeline"})
        first = p.objects.register_shot(0, {1: "character", 2: "text"})
        p.objects.register_shot(6, {1: "character"}, {1: first[1]})
        runner = PipelineRunner(p).start()
        try:
            assert runner.submit_run(RUN).wait(300) and runner.wait_idle(120)
            assert all((runner.stage_status(s) == FRESH).all() for s in RUN)
        finally:
            runner.stop()
        assert p.objects.require(first[2]).kind == "text"
        return first[1], first[2]


def _kind_stages(frames: list[int] | range) -> dict[str, list[int]]:
    return {stage: list(frames) for stage in KIND_STAGES}


def _stale(p: Project) -> dict[str, list[int]]:
    """Stage -> the frames whose result is not fresh (from the bulk read and frame by frame: the same)."""
    out: dict[str, list[int]] = {}
    for stage in RUN:
        codes = stage_status(p, stage, "classical")
        frames = [int(f) for f in np.flatnonzero(codes != FRESH)]
        assert stale_frames(p, stage, [0, 5, 6], "classical") == [f for f in (0, 5, 6) if f in frames], stage
        if frames:
            out[stage] = frames
    return out


def test_a_kind_change_makes_exactly_the_kind_reading_stages_stale_where_the_object_is_and_undo_restores_it(
        ring_project: Path) -> None:
    char, text = _with_text(ring_project)
    with Project.open(ring_project) as p:
        assert _stale(p) == {}
        p.objects.set_kind(text, "prop")
        assert p.objects.require(text).kind == "prop"
        # A text made a prop is cut out and painted out as a character: every stage that reads kinds.
        assert _stale(p) == _kind_stages(TEXT_FRAMES)
        undone = p.undo()
        assert history_outcome(p, "undo", undone) == "Undid: kind of Text 1 (text -> prop)."
        assert p.objects.require(text).kind == "text" and _stale(p) == {}
        assert p.redo() is not None
        assert p.objects.require(text).kind == "prop" and _stale(p) == _kind_stages(TEXT_FRAMES)
        assert p.undo() is not None and _stale(p) == {}
        # A character made a prop is cut out and painted out as before: only annotate records the change.
        p.objects.set_kind(char, "prop")
        assert _stale(p) == {"annotate": list(range(p.frame_count))}
        assert p.undo() is not None and _stale(p) == {}
        # Made an effect, the matte leaves it out: every stage that reads kinds, on every frame.
        p.objects.set_kind(char, "effect")
        assert _stale(p) == _kind_stages(list(range(p.frame_count)))
    with Project.open(ring_project) as p:  # what was stale is stale after a reopen (the journal replays)
        assert p.objects.require(char).kind == "effect" and p.objects.require(char).found_kind == "character"
        assert _stale(p) == _kind_stages(list(range(p.frame_count)))


def test_kind_views_are_what_the_stages_read_of_the_masks() -> None:
    """Two kinds in one class of a stage's view give the stage equal mask parts (`MASK_VIEWS`), two
    classes different ones: the view neither misses a change nor re-runs for nothing."""

    class Kinds:  # the little of a project `MASK_VIEWS` reads when it is handed the kinds
        objects = None

    labels = np.zeros((96, 160), np.uint8)
    labels[_ring(96, 160)] = 2
    labels[30:45, 10:40] = 1
    for stage, parts in MASK_VIEWS.items():
        view = KIND_VIEWS[stage]
        for a in KINDS:
            for b in KINDS:
                got = [[part(Kinds(), labels, {1: "character", 2: k}) for part in parts] for k in (a, b)]  # type: ignore[arg-type]
                same = all(np.array_equal(x, y) for pa, pb in zip(*got, strict=True) for x, y in zip(pa, pb, strict=True))
                assert same == (view[a] == view[b]), (stage, a, b)


def _plates(p: Project) -> list[np.ndarray]:
    plates = [p.layers.read("clean", f) for f in range(p.frame_count)]
    assert all(plate is not None for plate in plates)
    return [plate for plate in plates if plate is not None]


def test_marking_the_text_a_prop_in_the_app_reruns_its_frames_and_their_plates_change(
        ring_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end, as the app does it (`submit_object_edit`, then Ctrl+Z): the runner re-runs the kind's
    stages on the text's frames alone, by itself. As a prop the ring is a character's to the effects
    stage and the plate, not text, so the plates of those frames change and no other; undo re-runs
    the same frames and the plates are byte for byte as they were."""
    _, text = _with_text(ring_project)
    with Project.open(ring_project) as p:
        before = _plates(p)
        steps = count_steps(monkeypatch)
        runner = PipelineRunner(p).start()
        try:
            runner.submit_object_edit(lambda q: q.objects.set_kind(text, "prop"), "kind")
            assert runner.wait_idle(300)
            assert all((runner.stage_status(s) == FRESH).all() for s in RUN)
            assert dict(steps) == dict.fromkeys(KIND_STAGES, len(TEXT_FRAMES))
            after = _plates(p)
            changed = [f for f in range(p.frame_count) if not np.array_equal(before[f], after[f])]
            assert changed == TEXT_FRAMES
            steps.clear()
            runner.undo()
            assert runner.wait_idle(300)
            assert p.objects.require(text).kind == "text"
            assert all((runner.stage_status(s) == FRESH).all() for s in RUN)
            assert dict(steps) == dict.fromkeys(KIND_STAGES, len(TEXT_FRAMES))
            again = _plates(p)
            assert all(np.array_equal(x, y) for x, y in zip(before, again, strict=True))
        finally:
            runner.stop()


def test_a_batch_worker_reruns_a_changed_kind_as_the_runner_does(ring_project: Path) -> None:
    """`celstudio batch`: a shot's worker (`compute_shot`, over the shot's package) finds the same stale
    frames from the kinds, and the writer's replay of its writes leaves every stage fresh."""
    from app.batch.worker import BackendCache, compute_shot
    from app.batch.workspace import ShotPackage, apply_ops

    _, text = _with_text(ring_project)
    with Project.open(ring_project) as p:
        p.objects.set_kind(text, "prop")
        cache = BackendCache()
        done = [compute_shot(ShotPackage.read(p, i, {}), RUN, cache) for i in range(len(p.shots))]
        assert [r.computed for r in done] == [dict.fromkeys(KIND_STAGES, len(TEXT_FRAMES)), {}]
        for result in done:
            apply_ops(p, result.ops)
        assert _stale(p) == {}
