"""The main path, end to end: a video is imported like any video, run, named and exported.

Clips are made at test time: a generated multi-shot clip (exact truth) and, when ../shared is there,
a short cut of onepiece_demo.mp4 across its hard cut at frame 100.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from clips import read_frames, write_mp4

from app.export import export_project
from app.export.naming import ExportError
from app.ingest.importer import import_source
from app.pipeline.graph import FRESH, STAGES, stage_status
from app.pipeline.runner import PipelineRunner
from app.store import Project
from models.base import FrameSegmentation

W, H = 256, 144


def _subtitle(frame: int) -> tuple[np.ndarray, np.ndarray]:
    """A burnt-in subtitle line (light glyphs, dark outline) and its pixels; the line changes with dialogue."""
    canvas = np.zeros((H, W), np.uint8)
    text = ("Where are you going?", "To the sea!", "Wait for me")[(frame // 7) % 3]
    cv2.putText(canvas, text, (24, H - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 2, 4, cv2.LINE_AA)  # outline
    cv2.putText(canvas, text, (24, H - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1, 1, cv2.LINE_AA)  # glyphs
    return canvas > 0, canvas == 1


class TruthSegmenter:
    """The segment stage as the segmenter contract promises it (whole characters, per-shot track ids restarting
    at 1 in a shot-dependent order, burnt-in text as kind "text"), from the generator's truth, so these
    tests measure registration, identity, naming and export rather than segmentation quality."""

    name = "classical"
    role = "segmenter"

    def __init__(self, truth: dict[int, np.ndarray], text: dict[int, np.ndarray], shot_of: dict[int, int]) -> None:
        self.truth, self.text, self.shot_of = truth, text, shot_of

    def load(self, device: str = "cpu") -> None:
        return None

    def release(self) -> None:
        return None

    def segment_shot(self, frames: Sequence[np.ndarray], **camera: object) -> list[FrameSegmentation]:
        indices: list[int] = list(frames.indices)  # type: ignore[attr-defined]
        present = sorted({int(i) for f in indices for i in np.unique(self.truth[f]) if i})
        if self.shot_of[indices[0]] % 2:
            present = present[::-1]  # ids are per shot: the same character gets another id in another shot
        track = {cid: k + 1 for k, cid in enumerate(present)}
        text_id = len(present) + 1
        out = []
        for f in indices:
            labels = np.zeros((H, W), np.uint8)
            for cid, t in track.items():
                labels[self.truth[f] == cid] = t
            kinds: dict[int, Any] = {t: "character" for t in track.values()}
            if f in self.text:
                labels[self.text[f]] = text_id
                kinds[text_id] = "text"
            out.append(FrameSegmentation(labels, kinds))
        return out


@pytest.fixture(scope="module")
def episode(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A generated 3-shot clip with subtitles, written to mp4, imported and run with the truth segmenter."""
    from app.demo.generator import generate_shots

    root = tmp_path_factory.mktemp("episode")
    video = generate_shots(31, width=W, height=H, shots=3, frames_per_shot=10, cast_size=2)
    images, truth, text, shot_of = [], {}, {}, {}
    for g in video:
        image = g.image.copy()
        outline, glyphs = _subtitle(g.index)
        image[outline] = (20, 20, 20)
        image[glyphs] = (250, 250, 250)
        images.append(image)
        truth[g.index], text[g.index], shot_of[g.index] = g.labels, outline, g.shot
    mp4 = write_mp4(root / "clip.mp4", images, video.fps)
    project = import_source(mp4, root / "proj")
    assert [(s.start, s.end) for s in project.shots] == [(0, 10), (10, 20), (20, 30)], "the cut detector missed a cut"
    runner = PipelineRunner(project, backends={"segmenter": TruthSegmenter(truth, text, shot_of)}).start()
    runner.submit_run().wait(600)
    assert runner.wait_idle(120)
    yield {"project": project, "runner": runner, "truth": truth, "text": text, "root": root, "video": video}
    runner.stop()
    project.close()


def _object_over(project: Project, truth: np.ndarray, frame: int, cid: int) -> int:
    """The project object covering most of true character ``cid`` on ``frame``."""
    values = project.masks_or_empty(frame)[truth == cid]
    values = values[values > 0]
    return int(np.bincount(values).argmax()) if len(values) else 0


def test_objects_are_registered_once_with_one_identity_across_shots(episode: dict[str, Any]) -> None:
    project, truth = episode["project"], episode["truth"]
    for stage in STAGES:
        assert (stage_status(project, stage, "classical") == FRESH).all(), stage
    objects = {o.id: o for o in project.objects.all()}
    assert sorted(o.kind for o in objects.values()).count("text") == 1  # every subtitle line is one object
    for f in range(30):
        ids = {int(i) for i in np.unique(project.masks_or_empty(f)) if i}
        assert ids <= set(objects), f"frame {f} holds ids no object owns"
    # each true character is one project object in every shot it appears in
    for cid in (1, 2):
        seen = {_object_over(project, truth[f], f, cid) for f in range(30) if (truth[f] == cid).sum() > 200}
        assert len(seen) == 1 and 0 not in seen, (cid, seen)
        assert objects[seen.pop()].name.startswith("Character ")
    # the segment stage keeps the per-shot ids; masks hold project ids
    seg = project.layers.read("segmentation", 15)
    masks = project.masks_or_empty(15)
    assert seg is not None and (seg != masks)[seg > 0].any()
    assert np.array_equal(masks, project.objects.to_objects(10, 15, seg))


def test_text_is_in_no_character_mask_or_cutout_and_is_painted_out(episode: dict[str, Any], tmp_path: Path) -> None:
    project, text = episode["project"], episode["text"]
    text_ids = project.objects.ids_of_kind("text")
    f = 12
    alpha = project.layers.read("alpha", f)
    assert alpha is not None and alpha[text[f]].max() == 0  # the matte never covers subtitle pixels
    clean = project.layers.read("clean", f)
    assert clean is not None
    glyph_luma = clean[text[f]].astype(float).mean()
    assert glyph_luma < 200  # the white glyphs were painted out of the clean plate
    summary = export_project(project, tmp_path / "k", format="kohya", workers=1)
    assert summary["frames"] > 0
    manifest = json.loads((tmp_path / "k" / "manifest.json").read_text())
    assert not any(e.get("object", {}).get("id") in text_ids for e in manifest["files"])  # left out unless asked
    truth = episode["truth"]
    for png in (tmp_path / "k" / "img").rglob("*.png"):
        frame = int(png.stem[1:7])
        rgba = np.asarray(cv2.imread(str(png), cv2.IMREAD_UNCHANGED))
        # glyphs that lie on a character are its hidden pixels (tests/test_under_text.py); the rest,
        # 4 px or more from every character, are in no cut-out
        near = cv2.dilate((truth[frame] > 0).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
        assert rgba.shape[2] == 4 and rgba[..., 3][text[frame] & ~near].max() == 0, png.name
    asked = export_project(project, tmp_path / "t", format="layers", workers=1, include_text=True)
    assert asked["frames"] > 0 and any((tmp_path / "t" / "objects").glob(f"{text_ids[0]:03d}_*"))


def test_a_name_given_in_shot_1_is_on_that_characters_files_in_every_shot(episode: dict[str, Any], tmp_path: Path) -> None:
    project, truth = episode["project"], episode["truth"]
    appears = {c: {f for f in range(30) if (truth[f] == c).sum() > 200} for c in (1, 2)}
    cid = next(c for c in (1, 2) if 5 in appears[c] and {f // 10 for f in appears[c]} != {0})
    hero = _object_over(project, truth[5], 5, cid)
    project.objects.rename(hero, "Nami")
    summary = export_project(project, tmp_path / "k", format="kohya", workers=1)
    assert "Nami" not in summary["unconfirmed_objects"]
    manifest = json.loads((tmp_path / "k" / "manifest.json").read_text())
    named = {e["frame"] for e in manifest["files"] if e.get("object", {}).get("name") == "Nami" and e["role"] == "image"}
    expected = appears[cid]
    assert expected <= named and {f // 10 for f in named} == {f // 10 for f in expected}
    for e in manifest["files"]:
        if e.get("object", {}).get("name") == "Nami":
            assert e["path"].startswith("img/10_nami/") and e["object"]["confirmed"] is True
            if e["role"] == "caption":
                caption = (tmp_path / "k" / e["path"]).read_text()
                assert caption.startswith("nami, solo") and "2characters" not in caption
    # --confirmed-only keeps the named character alone; the others are flagged unconfirmed otherwise
    only = export_project(project, tmp_path / "c", format="coco", workers=1, confirmed_only=True)
    coco = json.loads((tmp_path / "c" / "annotations.json").read_text())
    assert only["frames"] > 0 and {a["category_id"] for a in coco["annotations"]} == {hero}
    cats = {c["id"]: c for c in coco["categories"]}
    assert cats[hero]["confirmed"] is True and any(c["confirmed"] is False for c in cats.values())
    project.undo()
    with pytest.raises(ExportError, match="Nothing to export"):
        export_project(project, tmp_path / "none", format="coco", workers=1, confirmed_only=True)


def test_export_reruns_stale_frames_first_or_lists_them(episode: dict[str, Any], tmp_path: Path) -> None:
    project, runner, truth = episode["project"], episode["runner"], episode["truth"]
    chars = [o.id for o in project.objects.all() if o.kind == "character"]
    a = next(_object_over(project, truth[24], 24, c) for c in (1, 2) if (truth[24] == c).sum() > 200)
    b = next(c for c in chars if c != a)
    project.objects.reassign(24, a, b, to_end=True)  # a reassigned track makes frames 24.. stale downstream
    stale = [f for f in range(30) if stage_status(project, "matte", "classical")[f] != FRESH]
    assert stale and min(stale) >= 24
    listed = export_project(project, tmp_path / "s", format="layers", workers=1, allow_stale=True)
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert set(stale) <= {int(f) for f in manifest["stale_frames"]} and listed["stale_frames"]
    assert all("stale" in e for e in manifest["files"] if e.get("frame") in stale)
    seen: list[tuple[str, int, int]] = []
    assert project.runner is runner  # the export goes through the project's own runner (as in the app)
    fresh = export_project(project, tmp_path / "f", format="layers", workers=1,
                           stage_progress=lambda s, d, t: seen.append((s, d, t)))
    assert fresh["stale_frames"] == [] and seen and {s for s, _, _ in seen} >= {"matte"}
    assert "stale_frames" not in json.loads((tmp_path / "f" / "manifest.json").read_text())
    assert (stage_status(project, "annotate", "classical") == FRESH).all()


def test_generated_clip_with_the_weight_free_segmenter_exports_every_format(tmp_path: Path) -> None:
    from app.demo.generator import generate_shots

    video = generate_shots(47, width=192, height=108, shots=2, frames_per_shot=8, cast_size=2)
    mp4 = write_mp4(tmp_path / "g.mp4", [g.image for g in video], video.fps)
    _run_and_export_every_format(import_source(mp4, tmp_path / "proj"), tmp_path)


def test_onepiece_cut_imports_runs_and_exports_every_format(shared_dir: Path, tmp_path: Path) -> None:
    clip = shared_dir / "data" / "anime" / "clips" / "onepiece_demo.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} is not there")
    frames = read_frames(clip, 92, 108, size=(256, 192))  # across the hard cut at frame 100
    mp4 = write_mp4(tmp_path / "op.mp4", frames, 24.0)
    project = import_source(mp4, tmp_path / "proj")
    assert [s.start for s in project.shots] == [0, 8]
    _run_and_export_every_format(project, tmp_path)


def _run_and_export_every_format(project: Project, tmp_path: Path) -> None:
    with project:
        runner = PipelineRunner(project).start()
        try:
            runner.submit_run().wait(600)
            assert runner.wait_idle(120)
        finally:
            runner.stop()
        objects = project.objects.all()
        assert objects and all(not o.confirmed and o.name.split()[0] in ("Character", "Effect", "Prop", "Text")
                               for o in objects)
        for fmt in ("kohya", "coco", "layers"):
            summary = export_project(project, tmp_path / fmt, format=fmt, workers=1)
            assert summary["frames"] > 0 and summary["written"] > 0 and summary["stale_frames"] == []
            manifest = json.loads((tmp_path / fmt / "manifest.json").read_text())
            assert all(o["confirmed"] is False for o in manifest["objects"])
        pngs = list((tmp_path / "kohya" / "img").rglob("*.png"))
        assert pngs and all(np.asarray(cv2.imread(str(p), cv2.IMREAD_UNCHANGED))[..., 3].max() > 0 for p in pngs[:20])
        coco = json.loads((tmp_path / "coco" / "annotations.json").read_text())
        assert coco["annotations"] and {a["category_id"] for a in coco["annotations"]} <= {o.id for o in objects}
        assert any((tmp_path / "layers" / "objects").iterdir())
