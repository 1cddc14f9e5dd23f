"""What a new user met on a real clip (sakura_quest, round 14's walk-through), mended: each test is one
friction, on a project shaped like the clip (a close-up filling most of the frame, a caption)."""

from __future__ import annotations

import os
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QRectF
from ui_fixtures import open_window

from app.export import export_project
from app.store import Manifest, Project, Shot, SourceInfo
from app.ui import render
from app.ui.window import MainWindow
from models.base import Role

W, H = 96, 64


def _closeup(root: Path, frames: int = 2, caption_kind: str = "text") -> None:
    """A character filling ~70% of the frame (the sky in the top right corner is background; her coat at
    the bottom right), a caption
    (text) at the bottom left, and the matte the classical matter wrote on sakura_quest's close-up: opaque
    everywhere, the sky and the caption included (its gap filling took the corner for the character)."""
    p = Project.create(root, Manifest("closeup", SourceInfo("generated", "", "h"), frames, W, H, 24.0,
                                      shots=[Shot(0, frames)]))
    yy, xx = np.mgrid[:H, :W]
    body = ~((xx > 60) & (yy < 30))  # everything but the sky corner
    caption = (yy > 52) & (xx < 30)
    for f in range(frames):
        image = np.empty((H, W, 3), np.uint8)
        image[:] = (120, 170, 230)  # sky
        image[body] = (230, 150, 170)  # her (hair)
        image[body & (yy >= 40) & (xx >= 35)] = (180, 30, 40)  # her coat
        image[caption] = (250, 250, 250)
        p.media.write_frame(f, image)
        seg = np.where(caption, 1, np.where(body, 2, 0)).astype(np.uint8)
        p.layers.write("segmentation", f, seg, {"source": "pipeline"})
    p.objects.register_shot(0, {1: caption_kind, 2: "character"})
    for f in range(frames):
        stored = p.layers.read("segmentation", f)
        assert stored is not None
        p.layers.write("masks", f, p.objects.to_objects(0, f, stored), {"source": "pipeline"})
        p.layers.write("alpha", f, np.ones((H, W), np.float32), {"stage": "matte", "backend": "classical"})
    p.close()


def _shown_alpha(window: MainWindow) -> np.ndarray:
    pixmap = window.view.stack.layer_items["alpha"].pixmap()
    return render.qimage_to_array(pixmap.toImage())[..., 3]


def test_the_character_rgba_layer_is_the_exported_cutout(qtbot: Any, tmp_path: Path) -> None:
    """sakura_quest: the stored matte was > 0 on 100% of frame 1 (sky and caption included) while the
    kohya PNG was 79.7% opaque and right; the Character RGBA layer showed the matte as stored."""
    root = tmp_path / "closeup"
    _closeup(root)
    p = Project.open(root)
    hers = p.masks_or_empty(0) == 2
    edge = (cv2.dilate(hers.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0) & ~hers
    matte = np.where(edge, 0.5, 1.0).astype(np.float32)  # a soft edge on the sky, 2 px
    p.layers.write("alpha", 0, matte, {"stage": "matte", "backend": "classical"})
    p.layers.write("clean", 0, np.zeros((H, W, 3), np.uint8), {"stage": "inpaint", "backend": "classical"})
    p.close()
    window, c = open_window(qtbot, tmp_path, root)
    try:
        project = c.project
        assert project is not None
        c.set_solo("alpha")
        qtbot.waitUntil(lambda: not window.view.stack.layer_items["alpha"].pixmap().isNull(), timeout=10000)
        shown = _shown_alpha(window)
        assert shown.shape == (H, W)
        export_project(project, tmp_path / "k", format="kohya", workers=1, allow_stale=True)
        png = next((tmp_path / "k" / "img").glob("*/f000000_o002.png"))
        written = cv2.cvtColor(np.asarray(cv2.imread(str(png), cv2.IMREAD_UNCHANGED)), cv2.COLOR_BGRA2RGBA)
        exported = written[..., 3]
        assert 0.6 < (exported > 0).mean() < 0.85  # export cuts the matte to her label
        assert np.array_equal(shown, exported)  # ... and the view shows exactly that
        assert not shown[:20, 70:].any() and not shown[56:, :25].any()  # the sky and the caption are out
        # The colours too: the soft edge's with the plate (black here) taken out, as export writes them.
        view_rgb = render.qimage_to_array(window.view.stack.layer_items["alpha"].pixmap().toImage())[..., :3]
        seen = exported > 0  # (both read back unpremultiplied)
        assert np.abs(view_rgb[seen].astype(int) - written[..., :3][seen].astype(int)).max() <= 2
        sky = edge & (project.masks_or_empty(0) == 0)
        assert sky.any() and (exported[sky] == 128).all()  # the soft edge on the sky is in the test
    finally:
        c.close_project()


def test_the_character_rgba_layer_follows_a_correction_at_once(qtbot: Any, tmp_path: Path) -> None:
    """The cut-out now reads the masks: a mask edit must redraw it, with no text object in the project too
    (with one, every mask write already redrew the shot's cut-outs)."""
    root = tmp_path / "closeup"
    _closeup(root, caption_kind="prop")
    window, c = open_window(qtbot, tmp_path, root)
    try:
        project = c.project
        assert project is not None
        c.set_solo("alpha")
        qtbot.waitUntil(lambda: not window.view.stack.layer_items["alpha"].pixmap().isNull(), timeout=10000)
        loader = c.loader
        assert loader is not None

        def full_cutout_cached() -> bool:  # the view's full-resolution cut-out is drawn and kept
            entry = loader.cached(0, True)
            return entry is not None and entry.images.get("alpha") is not None

        qtbot.waitUntil(full_cutout_cached, timeout=10000)
        assert not _shown_alpha(window)[:20, 70:].any()
        labels = project.layers.read("masks", 0)
        assert labels is not None
        edited = labels.copy()
        edited[:30, 61:] = 2  # the sky given to her
        project.layers.write("masks", 0, edited, {"source": "user"})
        qtbot.waitUntil(lambda: bool(_shown_alpha(window)[:20, 70:].all()), timeout=10000)
    finally:
        c.close_project()


def test_the_export_dialog_exports_every_frame_when_asked_and_says_so(qtbot: Any, tmp_path: Path) -> None:
    """sakura_quest: 72 frames, 8 exported - held drawings are written once, and `every_frame` existed on the
    command line only. A clip drawn on twos, imported from an mp4: the dialog's box says how many frames hold
    an earlier drawing, exports them all when ticked, and the summary says what the box changed."""
    from clips import write_mp4
    from ui_fixtures import anime_clip

    from app.ingest.importer import import_source
    from app.ui.export_dialog import ExportDialog

    clip = write_mp4(tmp_path / "twos.mp4", [f for f in anime_clip() for _ in range(2)], fps=12.0)
    project = import_source(clip, tmp_path / "twos")
    keys = project.drawing_keys
    held = [f for f in range(project.frame_count) if int(keys[f]) != f]
    n = project.frame_count
    assert held, "the import found no held frames in a clip drawn on twos"
    hero = project.objects.add("Hero").id
    for f in range(n):
        labels = np.zeros((project.height, project.width), np.uint8)
        labels[20:70, 30:60] = hero
        project.layers.write("masks", f, labels)
        project.layers.write("alpha", f, (labels == hero).astype(np.uint8) * 255)
    project.close()
    window, c = open_window(qtbot, tmp_path, tmp_path / "twos")
    try:
        def export(every: bool, out: Path) -> list[str]:
            dialog = ExportDialog(c, window)
            assert dialog.every_frame.text() == f"Every frame, held drawings too ({len(held)} of {n} frames are held)"
            dialog.out.setText(str(out))
            dialog.format.setCurrentText("kohya")
            dialog.every_frame.setChecked(every)
            dialog.allow_stale.setChecked(True)  # the stages never ran here: export the layers as written
            dialog.accept()
            qtbot.waitUntil(lambda: dialog.summary_dialog is not None, timeout=60000)
            assert dialog.summary_dialog is not None
            lines = dialog.summary_dialog.lines
            dialog.summary_dialog.close()
            return lines

        lines = export(True, tmp_path / "all")
        assert len(list((tmp_path / "all" / "img").glob("*/*.png"))) == n  # every frame, held ones too
        assert f"Every frame: {len(held)} of these {n} frames hold an earlier frame's drawing (the same picture " \
               "again); without \"Every frame\" each drawing is exported once." in lines, lines
        assert not any("left out as held" in line for line in lines)
        lines = export(False, tmp_path / "once")
        assert len(list((tmp_path / "once" / "img").glob("*/*.png"))) == n - len(held)
        assert any(line.startswith(f"{len(held)} more frames left out as held drawings") and "tick \"Every frame\""
                   in line for line in lines), lines
        assert c.project is not None and c.project.manifest.settings["export"]["every_frame"] is False  # remembered
    finally:
        c.close_project()


class _ColourClicker:
    """A clicker that, like a deep model, re-predicts the whole mask and ignores the prior: the pixels of
    the positive clicks' colours, or with only negative clicks every drawn pixel but theirs."""

    name: ClassVar[str] = "colour"
    role: ClassVar[Role] = "clicker"

    def load(self, device: str = "cpu") -> None:
        pass

    def release(self) -> None:
        pass

    def predict(self, image_id: str, image: np.ndarray, prompt: Any, prior: np.ndarray | None) -> np.ndarray:
        def colour_at(x: float, y: float) -> np.ndarray:
            return np.asarray((image == image[int(y), int(x)]).all(axis=2))

        positives = [colour_at(x, y) for x, y, pos in prompt.points if pos]
        negatives = [colour_at(x, y) for x, y, pos in prompt.points if not pos]
        sky = colour_at(W - 1, 0)
        mask = np.logical_or.reduce(positives) if positives else ~sky
        for n in negatives:
            mask &= ~n
        return np.asarray(mask)


def test_a_click_never_moves_the_mask_against_its_own_sign(tmp_path: Path) -> None:
    """sakura_quest: a left click on her collar, already hers, took 23 pixels of her hair away (149,306 ->
    149,283 px; the classical clicker re-decides every superpixel from refreshed colour models). A positive
    click must never remove pixels from the object, a negative one never add any."""
    from app.pipeline.interactive import click_correction
    from models.base import Prompt

    root = tmp_path / "closeup"
    _closeup(root, frames=1)
    project = Project.open(root)
    try:
        labels = project.masks_or_empty(0)
        coat = (project.frame(0) == (180, 30, 40)).all(axis=2)
        assert coat.any() and (labels[coat] == 2).all()
        hers = labels == 2
        caption = labels == 1
        clicker = _ColourClicker()
        click_correction(project, clicker, 0, 2, Prompt(points=((50.0, 50.0, True),)))  # on the coat, hers already
        after = project.masks_or_empty(0)
        assert ((after == 2) >= hers).all()  # nothing of her hair left her
        click_correction(project, clicker, 0, 2, Prompt(points=((50.0, 50.0, False),)))  # the coat is not hers
        after = project.masks_or_empty(0)
        assert not (after[coat] == 2).any()  # the coat left her ...
        assert (after[hers & ~coat] == 2).all() and (after[caption] == 1).all()  # ... and nothing came in
    finally:
        project.close()


def _plate_project(root: Path) -> None:
    """`_closeup` with a clean plate whose left half no frame shows (plate confidence 0 there)."""
    _closeup(root, frames=1)
    p = Project.open(root)
    try:
        plate = np.full((H, W, 3), (120, 170, 230), np.uint8)
        confidence = np.full((H, W), 255, np.uint8)
        confidence[:, : W // 2] = 0  # invented: 50% of the frame
        p.layers.write("clean", 0, plate, {"stage": "inpaint", "backend": "classical"})
        p.layers.write("plate_confidence", 0, confidence, {"stage": "inpaint", "backend": "classical"})
    finally:
        p.close()


def _shown(window: MainWindow, layer: str) -> np.ndarray:
    return render.qimage_to_array(window.view.stack.layer_items[layer].pixmap().toImage())[..., :3]


def test_the_clean_plate_marks_its_invented_pixels_and_says_how_many(qtbot: Any, tmp_path: Path) -> None:
    """sakura_quest: the plate under her close-up (77% of the frame) was a smear and nothing said it was made
    up. The view hatches the pixels no frame shows (View > Layers > Mark invented plate pixels, Shift+I) and
    the solo and A/B labels say their share of the frame."""
    root = tmp_path / "plate"
    _plate_project(root)
    window, c = open_window(qtbot, tmp_path, root)
    try:
        c.set_solo("clean")
        label = window.view.solo_label
        qtbot.waitUntil(lambda: "50% invented (hatched)" in label.text(), timeout=10000)
        assert label.text() == "Solo: Clean plate - 50% invented (hatched) (Alt+6 or S again: every layer)"
        shown = _shown(window, "clean").astype(int)
        sky = np.array((120, 170, 230))
        assert (np.abs(shown[:, W // 2 + 2:] - sky).max(axis=2) <= 2).all()  # what frames show: as it is
        invented = shown[:, : W // 2 - 2]
        assert (invented[..., 0] - sky[0] > 25).all() and (invented[..., 1] < sky[1]).all()  # hatched magenta
        assert len({tuple(v) for v in invented.reshape(-1, 3)}) >= 2  # stripes, not a flat fill
        window.actions_by_name["mark_invented"].trigger()  # off
        qtbot.waitUntil(lambda: label.text() == "Solo: Clean plate - 50% invented (Alt+6 or S again: every layer)",
                        timeout=10000)
        qtbot.waitUntil(lambda: bool((np.abs(_shown(window, "clean").astype(int) - sky).max(axis=2) <= 2).all()),
                        timeout=10000)
        window.actions_by_name["mark_invented"].trigger()  # on again
        c.set_solo("clean")  # solo off
        c.flip_ab()  # B: the plate
        qtbot.waitUntil(lambda: window.view.ab_label.text() == "B: clean plate, 50% invented (hatched) (A to flip)",
                        timeout=10000)
    finally:
        c.close_project()


def test_the_solo_and_ab_labels_cover_no_picture(qtbot: Any, tmp_path: Path) -> None:
    """sakura_quest: the solo label sat over the frame's top-left corner (over her "Input" caption) when the
    frame filled the view's width, as the A/B label did. In a free band they cover no picture (wrapped in a
    narrow side band); with none (zoomed in) they are translucent."""
    root = tmp_path / "plate"
    _plate_project(root)
    window, c = open_window(qtbot, tmp_path, root)
    view = window.view

    def picture() -> Any:  # the frame's rectangle in the view's coordinates
        return view.mapFromScene(QRectF(0, 0, W, H)).boundingRect().translated(view.viewport().geometry().topLeft())

    def check(where: str) -> None:
        qtbot.waitUntil(lambda: view.solo_label.isVisible() and view.ab_label.isVisible(), timeout=10000)
        qtbot.wait(200)
        assert not view.solo_label.geometry().intersects(view.ab_label.geometry()), where
        for label in (view.solo_label, view.ab_label):
            assert view.viewport().geometry().contains(label.geometry()), where
            if label.geometry().intersects(picture()):  # over the picture only when nothing else is free ...
                assert "rgba(20,20,24,90)" in label.styleSheet(), (where, label.geometry(), picture())

    try:
        c.set_solo("alpha")
        c.flip_ab()
        window.resize(700, 1000)  # the frame fills the view's width: a free band above it
        check("tall")
        assert not view.solo_label.geometry().intersects(picture())
        window.resize(1600, 560)
        qtbot.wait(200)
        vp = view.viewport().geometry()
        zoom = (vp.width() - 400) / W  # 200 px free each side of the frame, narrower than the labels' line
        view.set_zoom(zoom, W / 2, H / 2)
        assert H * zoom > vp.height() - 40  # no band above or below
        check("wide")
        assert not view.solo_label.geometry().intersects(picture())  # wrapped into the band beside the frame
        assert view.solo_label.width() <= 200
        view.set_zoom(40.0, W / 2, H / 2)  # the frame fills the view: no band left
        check("zoomed")
        assert view.solo_label.geometry().intersects(picture())  # ... translucent, checked above
        assert "rgba(20,20,24,90)" in view.solo_label.styleSheet()
    finally:
        c.close_project()


def test_the_update_after_a_merge_ends_on_what_the_merge_did(qtbot: Any, tmp_path: Path) -> None:
    """konobi (the second new-user pass): "Done: merge of Character 2 into Hana. Ctrl+Z undoes it." lasted a
    moment; the update after it ended on "Updating after an edit #4: done: 8 of 8 steps." (round 14 mended
    that ending for clicks, undo, redo and the kind, not for a merge, a split or a reassign)."""
    root = tmp_path / "closeup"
    _closeup(root, caption_kind="character")
    _window, c = open_window(qtbot, tmp_path, root)
    said: list[str] = []
    c.status.connect(said.append)
    try:
        c.merge_objects(2, 1)
        qtbot.waitUntil(lambda: any(line.startswith("Done: merge of Character 1 into Character 2.") for line in said),
                        timeout=60000)
        merged = next(line for line in said if line.startswith("Done: merge of"))
        qtbot.waitUntil(lambda: any(line.startswith(f"{merged} Layers updated (") for line in said), timeout=120000)
        assert not any(line.startswith("Updating after an edit") and ": done:" in line for line in said), said
    finally:
        c.close_project()


def test_an_object_a_click_starts_is_named_like_the_pipelines_and_not_confirmed(qtbot: Any, tmp_path: Path) -> None:
    """konobi: a click on background started "Object 3", listed and exported as confirmed though the user never
    named it, beside the pipeline's "Character 1", "Character 2"."""
    root = tmp_path / "closeup"
    _closeup(root)
    _window, c = open_window(qtbot, tmp_path, root)
    try:
        project = c.project
        assert project is not None
        c.click(90.0, 5.0)  # the sky: no object there
        new = project.manifest.objects[-1]
        assert (new.name, new.kind, new.confirmed) == ("Character 2", "character", False)
        assert c.object_id == new.id
    finally:
        c.close_project()


def test_a_click_that_starts_an_object_on_much_of_the_frame_says_how_much(tmp_path: Path) -> None:
    """konobi: a first click on the boy's hair started an object of 51,743 px (15% of the frame), mostly sky,
    and the status line gave only the count ("0 -> 51,743 px"): a first click has nothing to double, so the
    "It grew" warning never came. It now says how much of the frame the new object covers."""
    from app.pipeline.interactive import click_correction
    from app.store.history_text import click_outcome
    from models.base import Prompt

    root = tmp_path / "closeup"
    _closeup(root, frames=1)
    project = Project.open(root)
    try:
        sky = int((project.masks_or_empty(0) == 0).sum())
        entry = click_correction(project, _ColourClicker(), 0, 3, Prompt(points=((90.0, 5.0, True),)))
        assert int((project.masks_or_empty(0) == 3).sum()) == sky
        line = click_outcome(project, entry)
        share = round(100 * sky / (W * H))
        assert line.endswith(f"0 -> {sky:,} px. It covers {share}% of the frame - if it took background, Ctrl+Z undoes it.")
        again = click_correction(project, _ColourClicker(), 0, 3, Prompt(points=((90.0, 5.0, True),)))
        assert "covers" not in click_outcome(project, again)  # not a first click: the object was there
    finally:
        project.close()


def test_a_layer_being_built_keeps_the_last_picture_and_says_so(qtbot: Any, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """onepiece under load: Character RGBA soloed after a frame change was an empty checkerboard for 1.2-6 s
    (the cut-out is built off the UI thread; the frame change had dropped the last one). The last picture
    stays, and a label says the layer is being built until this frame's comes."""
    from app.ui.loader import FrameLoader

    root = tmp_path / "closeup"
    _closeup(root)
    gate = threading.Event()
    gate.set()
    build = FrameLoader._cutout

    def slow_cutout(self: FrameLoader, *args: Any) -> np.ndarray:
        gate.wait(20)  # the cut-out "under load": built only when the test lets it
        return build(self, *args)

    monkeypatch.setattr(FrameLoader, "_cutout", slow_cutout)
    window, c = open_window(qtbot, tmp_path, root)
    view = window.view
    item = view.stack.layer_items["alpha"]
    try:
        c.set_solo("alpha")
        qtbot.waitUntil(lambda: view.stack.frames.get("alpha") == 0 and not view.building_layers(), timeout=10000)
        c.set_solo("alpha")  # every layer again, and on to frame 2: its cut-out is not loaded (hidden)
        c.set_frame(1)
        qtbot.waitUntil(lambda: view.stack.frames.get("image") == 1 and not view.building_layers(), timeout=10000)
        assert not view.building_label.isVisible()
        gate.clear()
        c.set_solo("alpha")
        qtbot.waitUntil(view.building_label.isVisible, timeout=10000)
        assert view.building_label.text() == "Building Character RGBA for frame 2... (frame 1's shown until then)"
        assert item.isVisible() and not item.pixmap().isNull()  # frame 1's cut-out, not an empty view
        assert bool(_shown_alpha(window)[30:50, 10:30].all())
        gate.set()
        qtbot.waitUntil(lambda: view.stack.frames.get("alpha") == 1 and not view.building_label.isVisible(),
                        timeout=10000)
        assert item.isVisible() and not item.pixmap().isNull()
    finally:
        gate.set()
        c.close_project()
