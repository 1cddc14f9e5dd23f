"""What a character's outline encloses is the character's: holes (eye whites, teeth) at the segment
and propagate stages, and flat regions its line art closes around (a hat, a shirt between the arms)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from test_pipeline_runner import Annotator, Calls, Clicker, Effects, Inpaint, Matter, Propagator

from app.pipeline.runner import PipelineRunner
from app.pipeline.stages import segment as segment_stage
from app.store import Manifest, Project, Shot, SourceInfo
from models.base import FrameSegmentation
from models.classical.enclosure import attach_regions, fill_enclosed
from models.classical.grouping import FrameTracks, still_characters, whole_characters

INK = (20, 15, 20)
WALL = (150, 120, 80)


def _wall(h: int, w: int) -> np.ndarray:
    """A wooden wall: brown planks with darker grain lines (painted texture)."""
    img = np.full((h, w, 3), WALL, np.uint8)
    for x in range(0, w, 24):
        cv2.line(img, (x, 0), (x, h), (90, 70, 45), 2)
    return img


def _character(img: np.ndarray) -> dict[str, np.ndarray]:
    """Draw a character with outlines onto ``img``: a head with two eye whites, a body with two arms
    held off it (the wall shows between arm and body), a hat the wall's colour on top, a white shirt
    between the arms. Returns the masks of its parts."""
    h, w = img.shape[:2]
    parts: dict[str, np.ndarray] = {k: np.zeros((h, w), np.uint8) for k in ("head", "eyes", "body", "hat", "shirt", "gap")}
    cv2.rectangle(img, (60, 40), (120, 100), (250, 210, 180), -1)  # head
    cv2.rectangle(parts["head"], (60, 40), (120, 100), 1, -1)
    for ex in (77, 103):
        cv2.circle(img, (ex, 66), 11, (255, 255, 255), -1)
        cv2.circle(parts["eyes"], (ex, 66), 10, 1, -1)
        cv2.circle(img, (ex, 66), 3, (10, 10, 10), -1)
        cv2.circle(img, (ex, 66), 11, INK, 2)
    cv2.rectangle(img, (60, 40), (120, 100), INK, 2)
    # The hat, the wall's colour, sits on the head: one line between them.
    cv2.ellipse(img, (90, 40), (40, 22), 0, 180, 360, WALL, -1)
    cv2.ellipse(parts["hat"], (90, 40), (37, 19), 0, 180, 360, 1, -1)
    parts["hat"][38:] = 0
    cv2.ellipse(img, (90, 40), (40, 22), 0, 180, 360, INK, 2)
    cv2.line(img, (50, 40), (130, 40), INK, 2)
    cv2.rectangle(img, (50, 102), (130, 180), (60, 90, 200), -1)  # jacket
    cv2.rectangle(img, (50, 102), (130, 180), INK, 2)
    cv2.rectangle(parts["body"], (50, 102), (130, 180), 1, -1)
    cv2.rectangle(img, (76, 104), (104, 178), (250, 250, 250), -1)  # white shirt, in the jacket
    cv2.rectangle(img, (76, 104), (104, 178), INK, 2)
    cv2.rectangle(parts["shirt"], (79, 107), (101, 175), 1, -1)
    for x0 in (22, 144):  # arms held off the body, joined at the shoulder and the hand
        cv2.rectangle(img, (x0, 102), (x0 + 14, 190), (250, 210, 180), -1)
        cv2.rectangle(img, (x0, 102), (x0 + 14, 190), INK, 2)
        cv2.rectangle(parts["body"], (x0, 102), (x0 + 14, 190), 1, -1)
    for x0, x1 in ((36, 50), (130, 144)):
        cv2.rectangle(img, (x0, 102), (x1, 110), (250, 210, 180), -1)
        cv2.rectangle(parts["body"], (x0, 102), (x1, 110), 1, -1)
        cv2.rectangle(img, (x0, 182), (x1, 190), (250, 210, 180), -1)
        cv2.rectangle(parts["body"], (x0, 182), (x1, 190), 1, -1)
        cv2.rectangle(parts["gap"], (x0 + 3, 114), (x1 - 3, 178), 1, -1)  # the wall between arm and body
    return {k: v > 0 for k, v in parts.items()}


def _scene() -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """The picture, the character's parts, and what a segmenter that missed the hat, the shirt and
    the eye whites (they never moved: burnt into the plate) found of it."""
    img = _wall(220, 240)
    parts = _character(img)
    found = (parts["head"] | parts["body"]) & ~parts["eyes"] & ~parts["shirt"]
    found = cv2.erode(found.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0  # stops short of the outline
    return img, parts, found.astype(np.uint8)


def test_eye_whites_are_filled_even_where_the_plate_agrees_with_them() -> None:
    img, parts, found = _scene()
    background = parts["eyes"] | parts["gap"] | (found == 0)  # a still character: the plate holds its eyes too
    out = fill_enclosed(found, img, background=background)
    assert (out[parts["eyes"]] == 1).all()
    # The wall seen between an arm and the body is no hole to fill.
    assert (out[parts["gap"]] == 0).all()
    # Text is never filled in.
    keep = parts["eyes"].copy()
    keep[:, 90:] = False
    out = fill_enclosed(found, img, keep_out=keep)
    assert (out[keep] == 0).all() and (out[parts["eyes"] & ~keep] == 1).all()


def test_a_textured_hole_is_background_seen_through() -> None:
    img, _, found = _scene()
    hole = np.zeros(found.shape, bool)
    hole[130:160, 56:72] = True  # a window in the jacket showing painted texture (grain lines)
    img[130:160, 56:72] = (200, 190, 170)
    img[130:160:3, 56:72] = (40, 30, 20)
    found[hole] = 0
    out = fill_enclosed(found, img)
    assert (out[hole] == 0).mean() > 0.9


def test_a_hat_on_top_and_a_shirt_between_the_arms_join_the_character() -> None:
    img, parts, found = _scene()
    out = attach_regions(found, img)
    assert (out[parts["hat"]] == 1).mean() > 0.9
    assert (out[parts["shirt"]] == 1).mean() > 0.9
    # The wall beside the head, between the arms and above the hat stays background.
    assert (out[parts["gap"]] == 0).all()
    assert (out[:14] == 0).all() and (out[40:100, :40] == 0).all() and (out[40:100, 150:] == 0).all()


def test_whole_characters_gives_a_frame_its_hat_shirt_and_eyes() -> None:
    img, parts, found = _scene()
    found[0, 0] = 2  # a stray piece: an effect, which takes nothing
    out = whole_characters(FrameTracks(found, image=img), {1: 1, 2: 2}, effects={2})
    for part in ("hat", "shirt", "eyes"):
        assert (out[parts[part]] == 1).mean() > 0.9, part
    assert (out[parts["gap"]] == 0).all()


def test_only_still_characters_are_judged_from_the_picture() -> None:
    """A character that moves was seen against the plate: its regions all moved with it, and the
    plate says what is seen through it. A still one is burnt into the plate."""
    img, parts, found = _scene()
    frames = []
    for i in range(6):
        lab = found.copy()
        lab[5:25, 5 + 4 * i : 25 + 4 * i] = 2  # a second character walking along the top
        frames.append(FrameTracks(lab, image=img))
    assert still_characters(frames, {1: 1, 2: 2}) == {1}
    # Passed one drawing each, held eight frames: 4 px a drawing is half a pixel a frame, still.
    assert still_characters(frames, {1: 1, 2: 2}, times=[8 * i for i in range(6)]) == {1, 2}
    background = parts["hat"] | parts["shirt"] | parts["eyes"]  # the plate agrees with all of them
    out = whole_characters(frames[0], {1: 1, 2: 2}, background=background, still=set())
    assert (out[parts["hat"] | parts["shirt"]] == 0).all() and (out[parts["eyes"]] == 0).all()
    out = whole_characters(frames[0], {1: 1, 2: 2}, background=background, still={1})
    assert (out[parts["eyes"]] == 1).all() and (out[parts["hat"]] == 1).mean() > 0.9


class HoleySeg:
    """A segmenter that finds the character but leaves its eye whites out (as a still character's
    burnt-in eyes are), and burnt-in text over the body."""

    def __init__(self, eyes: np.ndarray, text: np.ndarray) -> None:
        self.eyes, self.text = eyes, text

    def segment_shot(self, frames: Sequence[np.ndarray], **camera: Any) -> list[FrameSegmentation]:
        out = []
        for image in frames:
            labels = np.zeros(image.shape[:2], np.uint8)
            labels[40:181, 50:131] = 1
            labels[self.eyes] = 0
            labels[self.text] = 2
            out.append(FrameSegmentation(labels, {1: "character", 2: "text"}))
        return out


def test_the_propagate_stage_writes_masks_without_holes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    img, parts, _ = _scene()
    # The segment stage's own hole rule (`closed_cells`) would close these eyes before the propagate
    # stage sees them; this test is about the propagate stage's filling, so the holes are left to it.
    monkeypatch.setattr(segment_stage, "join_closed_cells", lambda frames, labels, kinds: list(labels))
    h, w = img.shape[:2]
    text = np.zeros((h, w), bool)
    text[150:160, 60:120] = True
    project = Project.create(tmp_path / "p", Manifest("p", SourceInfo("generated", "", "h"), 4, w, h, 24.0, shots=[Shot(0, 4)]))
    for i in range(4):
        project.media.write_frame(i, img)
    calls = Calls()
    backends = {"segmenter": HoleySeg(parts["eyes"], text), "matter": Matter(calls), "inpainter": Inpaint(calls),
                "effects": Effects(calls), "annotator": Annotator(calls), "clicker": Clicker(), "propagator": Propagator()}
    runner = PipelineRunner(project, backends=backends).start()
    try:
        runner.submit_run(["segment", "propagate"]).wait(60)
        assert runner.wait_idle()
        text_ids = project.objects.ids_of_kind("text")
        for f in range(4):
            seg = project.layers.read("segmentation", f)
            masks = project.layers.read("masks", f)
            assert seg is not None and masks is not None
            # the backend's holes (the outline snap may take the eyes' dark rims, the character's own line)...
            assert (seg[parts["eyes"]] == 0).mean() > 0.5
            char = masks[90, 90]
            assert char and char not in text_ids
            assert (masks[parts["eyes"]] == char).all()  # ...are filled in the final masks
            assert np.isin(masks[text], text_ids).all()  # and text stays text
    finally:
        runner.stop()
        project.close()


def test_a_close_ups_collar_cut_by_the_frames_bottom_edge_joins_the_character() -> None:
    """A close-up: hair and neck found, the uniform and collar under them (the frame's bottom edge
    cuts them, so no outline closes them) were burnt into the plate. They join; the sky beside the
    shoulders and seen between the arms, cut by the same edge, stays out."""
    sky, skin, red, dark = (135, 205, 235), (245, 225, 210), (150, 58, 80), (96, 39, 55)
    img = np.full((200, 200, 3), sky, np.uint8)
    parts = {k: np.zeros((200, 200), np.uint8) for k in ("found", "collar", "uniform", "gap")}
    cv2.rectangle(img, (40, 176), (160, 199), dark, -1)  # the uniform, on the shoulders
    cv2.rectangle(img, (40, 176), (160, 210), INK, 2)
    cv2.rectangle(parts["uniform"], (43, 179), (157, 199), 1, -1)
    cv2.rectangle(img, (94, 190), (106, 210), sky, -1)  # the sky seen between the arms
    cv2.rectangle(img, (94, 190), (106, 210), INK, 2)
    cv2.rectangle(parts["gap"], (97, 193), (103, 199), 1, -1)
    for x0, x1 in ((60, 88), (112, 140)):  # the collar, left and right of the neck
        cv2.rectangle(img, (x0, 176), (x1, 186), red, -1)
        cv2.rectangle(img, (x0, 176), (x1, 186), INK, 2)
        cv2.rectangle(parts["collar"], (x0 + 3, 179), (x1 - 3, 183), 1, -1)
    parts["uniform"][170:189, 57:144] = 0
    parts["uniform"][187:, 91:110] = 0
    hair = np.array([[42, 174], [42, 60], [70, 22], [130, 22], [158, 60], [158, 174], [120, 174], [100, 146], [80, 174]])
    cv2.fillPoly(img, [hair], (230, 180, 195))  # hair down to the shoulders, open over the neck
    cv2.fillPoly(parts["found"], [hair], 1)
    cv2.polylines(img, [hair], True, INK, 2)
    cv2.rectangle(img, (88, 150), (112, 180), skin, -1)  # neck
    cv2.rectangle(img, (88, 150), (112, 180), INK, 2)
    cv2.rectangle(parts["found"], (88, 150), (112, 180), 1, -1)
    m = {k: v > 0 for k, v in parts.items()}
    found = (cv2.erode(parts["found"], np.ones((3, 3), np.uint8)) > 0).astype(np.uint8)
    out = attach_regions(found, img)
    assert (out[m["collar"]] == 1).mean() > 0.9
    assert (out[m["uniform"]] == 1).mean() > 0.9
    assert (out[m["gap"]] == 0).all()
    assert (out[150:, :36] == 0).all() and (out[150:, 164:] == 0).all()  # the sky beside the shoulders


def _leaning_close_up(wall: tuple[int, int, int]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A close-up leaning into shot: the head and a shoulder found, the shirt under them running out
    to the frame's bottom-right corner, past every column of what was found; a painted crate (no
    line art of its own) beside the face, cut by the same bottom edge."""
    skin, red, crate = (245, 225, 210), (170, 40, 45), (60, 150, 70)
    img = np.full((200, 240, 3), wall, np.uint8)
    parts = {k: np.zeros((200, 240), np.uint8) for k in ("found", "shirt", "crate")}
    cv2.rectangle(img, (0, 120), (60, 199), crate, -1)
    cv2.rectangle(parts["crate"], (2, 122), (58, 199), 1, -1)
    shirt = np.array([[110, 160], [200, 160], [239, 180], [239, 199], [110, 199]])
    cv2.fillPoly(img, [shirt], red)
    cv2.polylines(img, [shirt[:3]], False, INK, 3)  # its outline, down to where the frame cuts it
    cv2.fillPoly(parts["shirt"], [shirt], 1)
    parts["shirt"] = np.asarray(cv2.erode(parts["shirt"], np.ones((7, 7), np.uint8)), np.uint8)
    head = np.array([[60, 10], [140, 10], [150, 100], [200, 130], [200, 158], [110, 158], [110, 199], [70, 199], [55, 120]])
    cv2.fillPoly(img, [head], skin)
    cv2.polylines(img, [head], True, INK, 2)
    cv2.fillPoly(parts["found"], [head], 1)
    parts["crate"][parts["found"] > 0] = 0
    return img, {k: v > 0 for k, v in parts.items()}


def test_a_close_ups_shirt_past_the_found_columns_joins_when_line_art_bounds_it() -> None:
    """The shirt reaches past the columns of the character's lower half (`_under_cut` refuses it),
    but line art bounds it wherever it meets the wall: it joins. The crate, of a colour unlike the
    wall too, has no ink line around it (painted background): it stays out."""
    img, m = _leaning_close_up((120, 130, 150))
    found = (cv2.erode(m["found"].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0).astype(np.uint8)
    out = attach_regions(found, img)
    assert (out[m["shirt"]] == 1).mean() > 0.9
    assert (out[m["crate"]] == 0).all()


def test_a_painted_region_against_a_dark_background_is_no_inked_shirt() -> None:
    """Against a dark background every edge is dark: the band beyond the edge is dark too, so no
    region there counts as outlined in ink (the crate stays out)."""
    img, m = _leaning_close_up((35, 35, 45))
    found = (cv2.erode(m["found"].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0).astype(np.uint8)
    out = attach_regions(found, img)
    assert (out[m["crate"]] == 0).all()


def test_holes_that_continue_outside_are_judged_for_all_holes_at_once() -> None:
    """`_continuing_holes` gives every hole the answer the per-hole test gave: most of the hole's
    region pixels (edges, region 0, count for nothing) lie in regions mostly outside the silhouette;
    a hole that shows no region does not continue."""
    from models.classical.enclosure import _continuing_holes

    rng = np.random.default_rng(5)
    for _ in range(20):
        comp = rng.integers(0, 6, (40, 50)).astype(np.int32)
        regions = rng.integers(0, 9, (40, 50)).astype(np.int32)
        regions[comp == 5] = 0  # hole 5 shows only edges
        total = np.bincount(regions.ravel(), minlength=9) + rng.integers(0, 300, 9)
        within = rng.integers(0, total + 1)
        got = _continuing_holes(comp, 6, regions, within, total)
        for c in range(1, 6):
            ids, counts = np.unique(regions[comp == c], return_counts=True)
            counts, ids = counts[ids > 0], ids[ids > 0]
            outside = (total[ids] - within[ids]) > 0.5 * total[ids]
            want = counts.sum() > 0 and counts[outside].sum() > 0.5 * counts.sum()
            assert bool(got[c]) == bool(want), c
        assert not got[5]
