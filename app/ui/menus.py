"""The main window's actions, menus, toolbar and the shortcut sheet's rows: what the user can do, by name.

Each action calls one controller (or window) method; `MainWindow.actions_by_name` holds them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

from app.ui.icons import icon
from app.ui.render import LAYER_LABELS, LAYER_ORDER

if TYPE_CHECKING:
    from app.ui.window import MainWindow

# Canvas gestures have no QAction; the shortcut sheet lists them with the actions' keys.
GESTURES: tuple[tuple[str, str], ...] = (
    ("Left click", "Point tool: add to the active object (with none active: select the object under it,\n"
                   "or start a new object on background)"),
    ("Right click", "Point tool: remove from the active object"),
    ("Drag", "Box tool (R), or Shift+drag with the point tool: a box around the object"),
    ("Drag", "Brush (B) / eraser (E): paint or erase; the circle shows the brush size"),
    ("Wheel", "Zoom the frame; over the timeline: zoom the timeline"),
    ("Space+drag, middle drag", "Pan the frame"),
    ("Space", "Play / pause"),
    ("Shift+wheel", "Timeline: scroll"),
    ("F2, double click", "Objects list: rename the object (names it in every shot)"),
    ("Del", "Objects list: delete the selected object (asks: in this shot or everywhere)"),
    ("Right click", "Objects list: go to the object, merge, split, reassign, delete; greyed: not on this frame"),
)



def add_action(w: MainWindow, name: str, text: str, slot: Callable[[], Any], shortcut: str | QKeySequence.StandardKey | None = None,
         icon_name: str | None = None, tip: str = "", checkable: bool = False) -> QAction:
    action = QAction(icon(icon_name) if icon_name else icon(""), text, w)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
    action.setToolTip(f"{tip or text.replace('&', '')} ({keys})" if keys else (tip or text.replace("&", "")))
    action.setStatusTip(tip or text.replace("&", ""))
    action.setCheckable(checkable)
    action.triggered.connect(lambda _checked=False: slot())
    w.addAction(action)  # window-wide shortcuts, whichever child has focus
    w.actions_by_name[name] = action
    return action

def build_actions(w: MainWindow) -> None:
    """Every action of the window, by name in ``w.actions_by_name``, with its key and icon."""
    c = w.c
    a = partial(add_action, w)
    a("open", "&Open project...", w.open_dialog, QKeySequence.StandardKey.Open, "open")
    a("import", "&Import video...", w.import_dialog, "Ctrl+I", "import")
    a("import_folder", "Import image &folder...", w.import_folder_dialog, "Ctrl+Shift+I")
    a("export", "&Export...", w.export_dialog, "Ctrl+E", "export")
    a("reimport", "Re-import &media from source...", w.reimport_media, None, None,
      "Rebuild proxies, thumbnails and the frame index from the source video or folder")
    a("quit", "&Quit", w.close, QKeySequence.StandardKey.Quit)
    a("undo", "&Undo", c.undo, "Ctrl+Z", "undo")
    a("redo", "&Redo", c.redo, "Ctrl+Shift+Z", "redo")
    w.actions_by_name["redo"].setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])  # both are common
    a("run", "&Run all stages", c.run_all, "Ctrl+R", "run", "Run the pipeline on every shot")
    # Propagation always takes Ctrl: the bare bracket keys size the brush (as in every paint
    # program), so a missed modifier changes the brush, never launches a propagation.
    a("forward", "Propagate &forward", lambda: c.propagate("forward"), "Ctrl+]", "forward",
      "Propagate the current masks forward through the shot")
    a("backward", "Propagate &backward", lambda: c.propagate("backward"), "Ctrl+[", "backward",
      "Propagate the current masks backward through the shot")
    a("both", "Propagate &both ways", lambda: c.propagate("both"), "Ctrl+P", "both",
      "Propagate the current masks both ways through the shot")
    a("dismiss", "&Clear prompt / deselect", c.dismiss, "Esc", None,
      "Clear this frame's points and box; again: deselect the object (never cancels jobs)")
    a("cancel", "&Cancel all jobs...", w.cancel_all, "Shift+Esc", "cancel",
      "Cancel every running and queued job (asks first)")
    a("pause", "&Pause pipeline", lambda: c.set_paused(not c.paused), "Ctrl+Shift+P", None,
      "Pause or resume the pipeline; while paused nothing resumes by itself", checkable=True)
    a("auto_run", "Run &after import and open", w.toggle_auto_run, None, None,
      "Start the pipeline by itself on a project that has not run yet", checkable=True)
    a("click", "Point tool", lambda: c.set_tool("click"), "V", "click",
      "Left click adds, right click removes (Shift+drag: box)", checkable=True)
    a("box", "Box tool", lambda: c.set_tool("box"), "R", "click", "Drag a box around the object",
      checkable=True)
    a("brush", "Brush", lambda: c.set_tool("brush"), "B", "brush", "Paint into the object's mask", checkable=True)
    a("eraser", "Eraser", lambda: c.set_tool("eraser"), "E", "eraser", "Erase from the object's mask",
      checkable=True)
    a("brush_bigger", "Bigger brush", lambda: c.resize_brush(1.25), "]", None, "Grow the brush and eraser")
    a("brush_smaller", "Smaller brush", lambda: c.resize_brush(0.8), "[", None, "Shrink the brush and eraser")
    a("settings", "&Settings...", w.settings_dialog, "Ctrl+,", "settings")
    a("models", "&Models...", w.models_dialog, None, "models", "Model weights: list and download")
    a("fit", "&Fit to window", w.view.fit, "F", "fit")
    a("side", "&Side by side with clean plate", w.toggle_side, "Shift+A", "compare", checkable=True)
    a("ab", "&A/B flip frame and clean plate", c.flip_ab, "A")
    a("next", "Next frame", lambda: c.step(1), "Right")
    a("prev", "Previous frame", lambda: c.step(-1), "Left")
    a("next10", "Forward 10 frames", lambda: c.step(10), "Shift+Right")
    a("prev10", "Back 10 frames", lambda: c.step(-10), "Shift+Left")
    a("first", "First frame", c.first, "Home")
    a("last", "Last frame", c.last, "End")
    a("next_shot", "Next shot", c.next_shot, "PgDown")
    a("prev_shot", "Previous shot", c.prev_shot, "PgUp")
    a("play", "Play / Pause\tSpace", c.toggle_play, None, "play", "Play or pause (Space)")
    a("split_shot", "Split shot &here", c.split_shot, "Ctrl+K", None, "Start a new shot at this frame")
    a("merge_shot", "&Merge with next shot", c.merge_shot, "Ctrl+Shift+K", None, "Join this shot and the next")
    for i, name in enumerate(reversed(LAYER_ORDER), start=1):
        a(f"layer_{name}", f"Show {LAYER_LABELS[name].lower()}", partial(c.toggle_layer, name), str(i))
        a(f"solo_{name}", f"Solo {LAYER_LABELS[name].lower()}", partial(c.set_solo, name), f"Alt+{i}")
    a("mark_invented", "&Mark invented plate pixels", lambda: c.set_mark_invented(not c.mark_invented), "Shift+I",
      None, "Hatch in magenta the clean plate's pixels that no frame of the shot shows (made up by inpainting)",
      checkable=True)
    w.actions_by_name["mark_invented"].setChecked(c.mark_invented)
    a("shortcuts", "&Keyboard shortcuts", w.shortcuts_dialog, "F1", None, "Every key and gesture in one place")
    a("hint", "Show the &getting-started hint", lambda: w.view.show_hint(True), None, None)

def build_menus(w: MainWindow) -> QMenu:
    """The menu bar; returns the View menu (the docks add their toggles to it)."""
    bar = w.menuBar()
    get = w.actions_by_name
    file_menu = bar.addMenu("&File")
    file_menu.addActions([get["open"], get["import"], get["import_folder"]])
    file_menu.addMenu(w.recent_menu)
    file_menu.addSeparator()
    file_menu.addAction(get["export"])
    file_menu.addAction(get["reimport"])
    file_menu.addSeparator()
    file_menu.addAction(get["quit"])
    edit = bar.addMenu("&Edit")
    edit.addActions([get["undo"], get["redo"]])
    edit.addSeparator()
    edit.addActions([get["dismiss"]])
    edit.addSeparator()
    edit.addActions([get["click"], get["box"], get["brush"], get["eraser"], get["brush_bigger"],
                     get["brush_smaller"]])
    edit.addSeparator()
    edit.addActions([get["split_shot"], get["merge_shot"]])
    edit.addSeparator()
    edit.addAction(get["settings"])
    view_menu = bar.addMenu("&View")
    view_menu.addActions([get["fit"], get["side"], get["ab"], get["play"]])
    layers = view_menu.addMenu("Layers")
    for name in reversed(LAYER_ORDER):
        layers.addActions([get[f"layer_{name}"], get[f"solo_{name}"]])
    layers.addSeparator()
    layers.addAction(get["mark_invented"])
    nav = view_menu.addMenu("Go to")
    nav.addActions([get[k] for k in ("prev", "next", "prev10", "next10", "first", "last", "prev_shot", "next_shot")])
    view_menu.addSeparator()
    pipeline = bar.addMenu("&Pipeline")
    pipeline.addActions([get["run"], get["forward"], get["backward"], get["both"], get["pause"], get["cancel"]])
    pipeline.addSeparator()
    pipeline.addActions([get["auto_run"], get["models"]])
    help_menu = bar.addMenu("&Help")
    help_menu.addActions([get["shortcuts"], get["hint"]])
    return view_menu


def build_toolbar(w: MainWindow) -> None:
    tb = w.addToolBar("Main")
    tb.setObjectName("main-toolbar")
    get = w.actions_by_name
    for group in (("open", "import", "export"), ("undo", "redo"), ("click", "box", "brush", "eraser"),
                  ("run", "backward", "both", "forward", "cancel"), ("play", "fit", "side"), ("settings", "models")):
        tb.addActions([get[k] for k in group])
        tb.addSeparator()

def _keys(action: QAction) -> list[str]:
    """Each key of the action (Redo has two), one row each on the sheet."""
    return [k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts() if not k.isEmpty()]


def shortcut_rows(actions: dict[str, QAction]) -> list[tuple[str, str, str]]:
    """``(group, keys, what)`` for every action with a key, then the canvas gestures."""
    groups = {
        "File": ("open", "import", "import_folder", "export", "quit"),
        "Edit": ("undo", "redo", "dismiss", "click", "box", "brush", "eraser", "brush_bigger", "brush_smaller",
                 "split_shot", "merge_shot", "settings"),
        "Pipeline": ("run", "forward", "backward", "both", "pause", "cancel"),
        "View": ("fit", "side", "ab", "mark_invented", "next", "prev", "next10", "prev10", "first", "last", "next_shot",
                 "prev_shot"),
        "Help": ("shortcuts",),
    }
    rows: list[tuple[str, str, str]] = []
    listed: set[str] = set()
    for group, names in groups.items():
        for name in names:
            action = actions[name]
            for keys in _keys(action):
                rows.append((group, keys, action.text().replace("&", "").split("\t")[0]))
                listed.add(name)
    for name, action in actions.items():  # layers and anything added later
        for keys in _keys(action) if name not in listed else []:
            rows.append(("Layers" if name.startswith(("layer_", "solo_")) else "Other", keys,
                         action.text().replace("&", "")))
    rows.extend(("Canvas", keys, what) for keys, what in GESTURES)
    return rows

