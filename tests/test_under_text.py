"""A burnt-in subtitle over a character: the character's cut-out is whole under it.

A clip made at test time, written to mp4 and imported like any video: a character held still for
twelve frames while the dialogue changes (a donor frame shows what the first line hid), then moving
under a third line (no frame shows the same drawing: the hidden pixels are invented from the
character's colours). The segment stage is the segmenter contract filled from the truth (character
and ``text``), so the test measures what export makes of the glyphs, not text detection.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from clips import write_mp4

from app.export import export_project
from app.ingest.importer import import_source
from app.pipeline.runner import PipelineRunner
from models.base import FrameSegmentation
from models.classical.text_under import fill_under_text, text_owners

W, H, N = 320, 180, 24
LINES = ("Where are you going, Luffy?", "To the sea, to be king", "Wait for me there!")


def _line(frame: int) -> tuple[np.ndarray, np.ndarray]:
    """The frame's subtitle: its pixels (glyphs and outline) and its glyphs. A pause in the dialogue
    (frames 6-8) shows the held drawing without text."""
    canvas = np.zeros((H, W), np.uint8)
    if 6 <= frame < 9:
        return canvas > 0, canvas > 0
    text, x = (LINES[0], 30) if frame < 6 else (LINES[1], 52) if frame < 12 else (LINES[2], 60)
    cv2.putText(canvas, text, (x, H - 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 2, 4, cv2.LINE_AA)
    cv2.putText(canvas, text, (x, H - 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1, 2, cv2.LINE_AA)
    return canvas > 0, canvas == 1


def _frame(frame: int) -> tuple[np.ndarray, np.ndarray]:
    """The picture without the subtitle and the character's truth: a cel (skin head, striped red
    shirt down past the frame's bottom, dark outline) still for frames 0-11, then moving right."""
    yy, xx = np.mgrid[0:H, 0:W]
    image = np.dstack([60 + xx // 8, 110 + yy // 6, 150 + (xx + yy) // 20]).astype(np.uint8)  # a painted wall
    dx = 0 if frame < 12 else 4 * (frame - 11)
    body = np.zeros((H, W), np.uint8)
    cv2.ellipse(body, (150 + dx, 200), (90, 95), 0, 0, 360, 1, -1)
    cv2.circle(body, (150 + dx, 70), 34, 2, -1)
    image[body == 1] = (190, 40, 45)
    stripes = (body == 1) & (((xx - dx) // 13) % 2 == 0)  # no shift of the moving frames repeats them
    image[stripes] = (150, 30, 40)
    image[body == 2] = (240, 200, 160)
    edge = cv2.morphologyEx((body > 0).astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    image[edge] = (25, 20, 20)
    return image, body > 0


class TruthSegmenter:
    """The segment stage from the truth: the character (track 1) and the subtitle (track 2, kind text)."""

    name = "classical"
    role = "segmenter"

    def __init__(self, truth: dict[int, np.ndarray], text: dict[int, np.ndarray]) -> None:
        self.truth, self.text = truth, text

    def load(self, device: str = "cpu") -> None:
        return None

    def release(self) -> None:
        return None

    def segment_shot(self, frames: Sequence[np.ndarray], **camera: object) -> list[FrameSegmentation]:
        out = []
        for f in list(frames.indices):  # type: ignore[attr-defined]
            labels = np.zeros((H, W), np.uint8)
            labels[self.truth[f]] = 1
            labels[self.text[f]] = 2
            out.append(FrameSegmentation(labels, {1: "character", 2: "text"}))
        return out


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("under_text")
    images, clean, truth, text = [], {}, {}, {}
    for f in range(N):
        image, body = _frame(f)
        clean[f], truth[f] = image.copy(), body
        outline, glyphs = _line(f)
        image[outline] = (15, 15, 15)
        image[glyphs] = (250, 250, 250)
        images.append(image)
        text[f] = outline
    project = import_source(write_mp4(root / "clip.mp4", images, 24.0), root / "proj")
    assert len(project.shots) == 1
    runner = PipelineRunner(project, backends={"segmenter": TruthSegmenter(truth, text)}).start()
    runner.submit_run().wait(600)
    assert runner.wait_idle(120)
    yield {"project": project, "clean": clean, "truth": truth, "text": text}
    runner.stop()
    project.close()


def test_a_subtitle_over_a_character_leaves_no_hole_in_its_cutout(clip: dict[str, Any], tmp_path: Path) -> None:
    project, clean, truth, text = clip["project"], clip["clean"], clip["truth"], clip["text"]
    (oid,) = project.objects.ids_of_kind("character")
    export_project(project, tmp_path / "k", format="kohya", workers=1)
    files = {e["path"]: e for e in json.loads((tmp_path / "k" / "manifest.json").read_text())["files"]}
    held: list[tuple[int, dict[str, Any], float]] = []
    moving: list[tuple[int, dict[str, Any], float]] = []
    for png in sorted((tmp_path / "k" / "img").rglob(f"f*_o{oid:03d}.png")):  # one per drawing
        f = int(png.stem[1:7])
        rgba = cv2.cvtColor(np.asarray(cv2.imread(str(png), cv2.IMREAD_UNCHANGED)), cv2.COLOR_BGRA2RGBA)
        entry = files[str(png.relative_to(tmp_path / "k"))]
        if not text[f].any():
            assert "under_text" not in entry  # nothing painted where no text lies
            continue
        body = truth[f].astype(np.uint8)
        inside = text[f] & cv2.erode(body, np.ones((5, 5), np.uint8)).astype(bool)  # the glyphs 2 px in
        assert inside.sum() > 700, f  # the line crosses the character
        assert (rgba[..., 3][inside] == 255).mean() >= 0.97, f  # no glyph-shaped holes
        # the glyphs beside it stay out (stage 1's edge, after propagate, may lie a few px off the truth)
        near, far = (text[f] & ~cv2.dilate(body, np.ones((k, k), np.uint8)).astype(bool) for k in (7, 17))
        assert (rgba[..., 3][near] > 0).mean() <= 0.05 and not (rgba[..., 3][far] > 0).any(), f
        record = entry["under_text"]
        assert record["pixels"] >= inside.sum(), f  # the manifest says which pixels were painted
        error = np.abs(rgba[..., :3][inside].astype(int) - clean[f][inside].astype(int)).max(axis=1)
        (held if f < 12 else moving).append((f, record, float(error.mean())))
    assert [f for f, _, _ in held] == [0, 9] and len(moving) == 12
    # held: the pause shows what the lines hide: copied from it, nearly exact
    for f, record, error in held:
        assert record["from_other_frames"] >= 0.9 * record["pixels"] and record["donor_frames"] in ([6], [7], [8]), (f, record)
        assert error < 8, (f, error)
    # moving: no frame shows this drawing; painted from the character's colours, not the glyphs' (250, 15)
    for f, record, error in moving:
        assert record["from_other_frames"] == 0 and record["invented"] == record["pixels"], (f, record)
        assert error < 30, (f, error)


def test_layers_export_the_whole_mask_and_which_pixels_were_painted(clip: dict[str, Any], tmp_path: Path) -> None:
    project, truth, text = clip["project"], clip["truth"], clip["text"]
    (oid,) = project.objects.ids_of_kind("character")
    export_project(project, tmp_path / "l", format="layers", workers=1)
    f = 0
    folder = next((tmp_path / "l" / "masks" / "binary").glob(f"{oid:03d}_*")).name
    mask = np.asarray(cv2.imread(str(tmp_path / "l" / "masks" / "binary" / folder / f"f{f:06d}.png"), cv2.IMREAD_GRAYSCALE))
    painted = np.asarray(cv2.imread(str(tmp_path / "l" / "under_text" / folder / f"f{f:06d}.png"), cv2.IMREAD_GRAYSCALE))
    inside = text[f] & cv2.erode(truth[f].astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert (mask[inside] == 255).mean() >= 0.97  # the character's mask covers the glyphs on it
    assert (painted[inside] > 0).mean() >= 0.97 and (painted[inside] == 255).mean() >= 0.9  # copied from the pause
    assert (painted[~cv2.dilate(text[f].astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)] == 0).all()


def test_a_glyph_across_the_characters_edge_is_split_at_the_edge() -> None:
    labels = np.zeros((60, 80), np.uint8)
    labels[:, :40] = 3  # the character, left half
    labels[28:34, 20:60] = 7  # a stroke from inside it to the background
    labels[29, 50] = 0  # a speck of no object among the glyphs
    owners = text_owners(labels, [7], [3], reach=10)
    assert (owners[28:34, 20:39] == 3).all() and (owners[28:34, 41:60] == 0).all()
    assert owners[29, 50] == 0  # the speck went to the background side with its neighbours
    image = np.zeros((60, 80, 3), np.uint8)
    image[labels == 3] = (200, 30, 30)
    image[labels == 7] = (255, 255, 255)
    out, kind, lent = fill_under_text(image, labels, owners, labels == 7, [])
    assert not lent and (kind[owners == 3] == 2).all()
    assert np.abs(out[owners == 3].astype(int) - (200, 30, 30)).max() <= 2  # the character's colour, not the glyph's


def test_the_apps_cutout_view_is_whole_under_the_subtitle(clip: dict[str, Any]) -> None:
    from app.ui import render
    from app.ui.loader import FrameLoader

    project, clean, truth, text = clip["project"], clip["clean"], clip["truth"], clip["text"]
    loader = FrameLoader(project)
    for f in (0, 14):  # held (copied from the pause) and moving (invented)
        images, _size = loader._render(f, True, ("alpha",), ({}, None))
        image = images["alpha"]
        assert image is not None
        rgba = render.qimage_to_array(image)
        body = truth[f].astype(np.uint8)
        inside = text[f] & cv2.erode(body, np.ones((5, 5), np.uint8)).astype(bool)
        assert (rgba[..., 3][inside] == 255).mean() >= 0.97, f  # no glyph-shaped holes in the view
        far = text[f] & ~cv2.dilate(body, np.ones((17, 17), np.uint8)).astype(bool)
        assert not (rgba[..., 3][far] > 0).any(), f  # the subtitle off the character stays out
        error = np.abs(rgba[..., :3][inside].astype(int) - clean[f][inside].astype(int)).max(axis=1).mean()
        assert error < (8 if f < 12 else 30), (f, error)  # painted from the character, not the glyphs
        images, (w, h) = loader._render(f, False, ("alpha",), ({}, None))  # the proxy-sized view too
        small = images["alpha"]
        assert small is not None and (small.width(), small.height()) == (w, h)


def test_a_cutout_copied_from_a_donor_is_exported_again_when_the_donors_mask_changes(
        clip: dict[str, Any], tmp_path: Path) -> None:
    project, text = clip["project"], clip["text"]
    (oid,) = project.objects.ids_of_kind("character")
    export_project(project, tmp_path / "k", format="kohya", workers=1)

    def entry() -> dict[str, Any]:
        files = json.loads((tmp_path / "k" / "manifest.json").read_text())["files"]
        return next(e for e in files if e["path"].startswith("img/") and e["path"].endswith(f"f000000_o{oid:03d}.png"))

    assert entry()["under_text"]["donor_frames"] in ([6], [7], [8])
    donor = project.drawing_of(6)
    before = project.layers.read("masks", donor)
    assert before is not None
    try:  # the pause's mask loses the character where frame 0's line lies: nothing left to copy
        edited = before.copy()
        edited[cv2.dilate(text[0].astype(np.uint8), np.ones((9, 9), np.uint8)) > 0] = 0
        project.layers.write("masks", donor, edited)
        export_project(project, tmp_path / "k", format="kohya", workers=1)
        record = entry()["under_text"]
        assert not set(record["donor_frames"]) & {6, 7, 8}, record  # made again without the pause
        assert record["from_other_frames"] < 0.5 * record["pixels"], record
    finally:
        project.layers.write("masks", donor, before)
