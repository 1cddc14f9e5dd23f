"""The object list: every object the segment stage registered, with its swatch; edits go through the store."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu, QMessageBox
from ui_fixtures import answer_message_boxes, open_window

from app.store import Manifest, Project, Shot, SourceInfo
from app.store.objects import KindMismatch
from app.ui.controller import MainController
from app.ui.docks import KIND_ROLE
from app.ui.window import MainWindow

W, H = 64, 48


@pytest.fixture
def app_window(qtbot: Any, tmp_path: Path) -> Iterator[tuple[MainWindow, MainController]]:
    root = tmp_path / "p"
    p = Project.create(root, Manifest("p", SourceInfo("generated", "", "h"), 8, W, H, 24.0, shots=[Shot(0, 4), Shot(4, 8)]))
    for f in range(8):
        p.media.write_frame(f, np.full((H, W, 3), 90, np.uint8))
        seg = np.zeros((H, W), np.uint8)
        seg[8:24, 4:20], seg[8:24, 40:56] = 1, 2
        p.layers.write("segmentation", f, seg, {"source": "pipeline"})
    p.objects.register_shot(0, {1: "character", 2: "character"})
    p.objects.register_shot(4, {1: "character", 2: "character"}, {1: 1, 2: 2})
    for f in range(8):
        stored = p.layers.read("segmentation", f)
        assert stored is not None
        p.layers.write("masks", f, p.objects.to_objects(p.shot_of(f).start, f, stored), {"source": "pipeline"})
    p.close()
    window, controller = open_window(qtbot, tmp_path, root)
    yield window, controller
    controller.close_project()


def _names(window: MainWindow) -> list[str]:
    lst = window.objects_panel.list
    return [lst.item(i).text() for i in range(lst.count())]


def test_object_list_edits_are_journalled_and_undoable(qtbot: Any, app_window: tuple[MainWindow, MainController]) -> None:
    window, c = app_window
    project = c.project
    assert project is not None
    lst = window.objects_panel.list
    assert _names(window) == ["Character 1", "Character 2"]
    assert all(not lst.item(i).icon().isNull() and lst.item(i).font().italic() for i in range(2))

    lst.item(0).setText("Coby")  # what an in-place edit of the list does
    qtbot.waitUntil(lambda: project.objects.require(1).name == "Coby", timeout=10000)
    qtbot.waitUntil(lambda: not lst.item(0).font().italic(), timeout=10000)  # the list follows the store
    assert project.objects.require(1).confirmed and _names(window)[0] == "Coby"
    assert project.journal.entries[-1].kind == "rename"

    menu = window.objects_panel.menu_for(2)
    titles = [a.text() for a in menu.actions()]
    assert {"Rename", "Confirm name", "Merge into", "Reassign in this shot to", "Reassign from here to shot end to",
            "Split this shot off as a new object", "Delete..."} <= set(titles)

    c.set_frame(5)
    c.reassign_object(2, 1, to_end=True)  # frames 5..7: the right box is Coby too
    qtbot.waitUntil(lambda: (project.masks_or_empty(6)[8:24, 40:56] == 1).all(), timeout=10000)
    assert (project.masks_or_empty(4)[8:24, 40:56] == 2).all()

    c.delete_object(1, this_shot=True)
    qtbot.waitUntil(lambda: not (project.masks_or_empty(6) == 1).any(), timeout=10000)
    assert (project.masks_or_empty(1) == 1).any() and project.objects.get(1) is not None

    for _ in range(3):
        c.undo()
    qtbot.waitUntil(lambda: _names(window)[0] == "Character 1", timeout=10000)
    assert (project.masks_or_empty(6)[8:24, 40:56] == 2).all() and (project.masks_or_empty(6)[8:24, 4:20] == 1).all()
    assert lst.item(0).data(Qt.ItemDataRole.UserRole) == 1


def test_merging_text_into_a_character_asks_first_and_the_store_refuses_it_unasked(
        qtbot: Any, app_window: tuple[MainWindow, MainController], monkeypatch: pytest.MonkeyPatch) -> None:
    """sakura_quest: the object list merged the panel labels (Text 1) into Character 1 without a word, and
    they were in its cut-outs. The store refuses a merge of two kinds unless asked; the list asks first."""
    window, c = app_window
    project = c.project
    assert project is not None
    project.objects.set_kind(2, "text")
    project.objects.rename(2, "Labels")
    with pytest.raises(KindMismatch, match="Labels is a text and Character 1 a character"):
        project.objects.merge(1, 2)  # the store, unasked: nothing merged
    assert project.objects.get(2) is not None and (project.masks_or_empty(1)[8:24, 40:56] == 2).all()

    answer: dict[str, str] = {"button": "Cancel"}
    asked = answer_message_boxes(monkeypatch, answer)
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text, *rest: asked.append(f"{title}: {text}"))
    merge = next(m for m in window.objects_panel.menu_for(2).findChildren(QMenu) if m.title() == "Merge into")
    into = next(a for a in merge.actions() if a.text() == "Character 1")
    into.trigger()  # the user cancels: nothing merged
    assert len(asked) == 1 and asked[0].startswith("Merge objects of different kinds: Labels is a text and Character 1 a character")
    assert c.runner is not None and c.runner.wait_idle(30)  # type: ignore[attr-defined]
    assert project.objects.get(2) is not None and project.journal.entries[-1].kind == "rename"

    answer["button"] = "Merge Labels into Character 1"
    into.trigger()  # the user says they are one thing
    qtbot.waitUntil(lambda: project.objects.get(2) is None, timeout=10000)
    assert len(asked) == 2 and (project.masks_or_empty(1)[8:24, 40:56] == 1).all()

    hero = c.add_object("Hero")  # two characters merge without a question
    assert hero is not None
    window.objects_panel.merge_into(1, hero)
    qtbot.waitUntil(lambda: project.objects.get(hero) is None, timeout=10000)
    assert len(asked) == 2


def test_the_kind_menu_changes_an_objects_kind_the_list_shows_it_and_undo_brings_it_back(
        qtbot: Any, app_window: tuple[MainWindow, MainController]) -> None:
    """Right click > Kind > Text on Character 2: one undoable edit; the list's badge says "text" (the
    name stays), the menu checks Text, and Ctrl+Z / Ctrl+Shift+Z bring back the kind and the badge."""
    window, c = app_window
    project = c.project
    assert project is not None
    panel = window.objects_panel
    lst = panel.list

    def kind_menu() -> QMenu:
        return next(m for m in panel.menu_for(2).findChildren(QMenu) if m.title() == "Kind")

    def checked() -> list[str]:
        return [a.text() for a in kind_menu().actions() if a.isChecked()]

    def badge() -> tuple[str, Any, Any]:
        """Row 2's kind, and its badge end and name end as painted."""
        lst.viewport().repaint()
        rect = lst.visualItemRect(lst.item(1))
        image = lst.viewport().grab().toImage()
        right = image.copy(rect.right() - 60, rect.top(), 60, rect.height())
        left = image.copy(rect.left(), rect.top(), 60, rect.height())
        return str(lst.item(1).data(KIND_ROLE)), right, left

    assert [a.text() for a in kind_menu().actions()] == ["Character", "Effect", "Prop", "Text"]
    assert checked() == ["Character"]
    kind, right, left = badge()
    assert kind == "character"
    seq = project.journal.last_seq
    next(a for a in kind_menu().actions() if a.text() == "Text").trigger()
    qtbot.waitUntil(lambda: project.objects.require(2).kind == "text", timeout=10000)
    qtbot.waitUntil(lambda: lst.item(1).data(KIND_ROLE) == "text", timeout=10000)
    assert [e.kind for e in project.journal.since(seq)] == ["set_kind"]
    assert checked() == ["Text"] and _names(window) == ["Character 1", "Character 2"]
    kind, right_text, left_text = badge()
    assert right_text != right and left_text == left  # the badge changed, the name did not
    next(a for a in kind_menu().actions() if a.text() == "Text").trigger()  # its kind already: nothing journalled
    c.undo()
    qtbot.waitUntil(lambda: project.objects.require(2).kind == "character", timeout=10000)
    qtbot.waitUntil(lambda: lst.item(1).data(KIND_ROLE) == "character", timeout=10000)
    assert checked() == ["Character"] and badge()[1] == right
    c.redo()
    qtbot.waitUntil(lambda: lst.item(1).data(KIND_ROLE) == "text", timeout=10000)
    assert project.objects.require(2).kind == "text" and badge()[1] == right_text


def test_picking_an_object_in_the_list_says_what_the_next_gestures_do(
        qtbot: Any, app_window: tuple[MainWindow, MainController]) -> None:
    """sakura_quest: a row picked in the list lit up, but the status line kept "Opened sakura: 72 frames,
    1 shot." - neither that the object is active nor what a click now does to it (a click on the canvas
    that selects says so)."""
    window, c = app_window
    said: list[str] = []
    c.status.connect(said.append)
    window.objects_panel.list.setCurrentRow(1)
    assert c.object_id == 2
    assert said[-1] == ("Selected Character 2: left click adds to its mask, right click removes, R box, B brush, "
                        "E eraser; Esc deselects.")


def test_a_soloed_layer_says_which_it_is_and_when_this_frame_has_none_of_it(qtbot: Any, tmp_path: Path) -> None:
    """sakura_quest: Effects soloed (no effects on the clip) was a black frame with nothing saying whether
    the layer was empty, not computed or broken; only the layer panel's S button told that a solo was on."""
    root = tmp_path / "solo"
    p = Project.create(root, Manifest("solo", SourceInfo("generated", "", "h"), 2, W, H, 24.0, shots=[Shot(0, 2)]))
    for f in range(2):
        p.media.write_frame(f, np.full((H, W, 3), 90, np.uint8))
        labels = np.zeros((H, W), np.uint8)
        if f == 0:
            labels[8:24, 4:20] = 1
        p.layers.write("masks", f, labels, {"source": "pipeline"})  # frame 1: computed, no object on it
    p.close()
    window, c = open_window(qtbot, tmp_path, root)
    label = window.view.solo_label
    try:
        assert not label.isVisible()
        c.set_solo("masks")
        qtbot.waitUntil(lambda: label.isVisible() and label.text() == "Solo: Object masks (Alt+1 or S again: every layer)",
                        timeout=10000)
        c.set_frame(1)
        qtbot.waitUntil(lambda: label.text() == "Solo: Object masks - nothing on this frame (Alt+1 or S again: "
                        "every layer)", timeout=10000)
        c.set_solo("effects")
        qtbot.waitUntil(lambda: label.text() == "Solo: Effects - not computed on this frame (Alt+3 or S again: "
                        "every layer)", timeout=10000)
        c.set_solo("effects")  # the same key again: every layer, no label
        qtbot.waitUntil(lambda: not label.isVisible(), timeout=10000)
    finally:
        c.close_project()
