"""Side panels: objects (add, rename, confirm, colour, kind, merge, split, reassign, delete) and layers
(toggle, solo, opacity). The Jobs panel is `app.ui.jobs_panel`."""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, QRect, QSize, Qt, QTimer, Slot
from PySide6.QtGui import QColor, QFont, QIcon, QKeySequence, QPainter, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QColorDialog,
    QGridLayout,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPushButton,
    QSlider,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from app.store.objects import KINDS, merge_kinds_text
from app.ui.controller import MainController
from app.ui.icons import icon
from app.ui.render import LAYER_LABELS, LAYER_ORDER

HERE_DELAY_MS = 150
ABSENT_GREY = (128, 128, 134)
# Item data: the object is on the frame shown (bool); it has pixels on no frame at all (bool).
HERE_ROLE = Qt.ItemDataRole.UserRole + 1
NOWHERE_ROLE = Qt.ItemDataRole.UserRole + 2
KIND_ROLE = Qt.ItemDataRole.UserRole + 3  # the object's kind, shown as a badge (str)
BADGE_PAD = 5
BADGE_GREY = (150, 150, 158)
# What each kind means for the stages, as the Kind menu says it.
KIND_TIPS = {
    "character": "A character: cut out with its matte, painted out of the plate",
    "prop": "A thing (held, worn, standing): cut out and painted out like a character",
    "effect": "An effect (a glow, a blast): kept out of the characters' mattes and cut-outs",
    "text": "Burnt-in text: painted out of the plate, kept out of cut-outs, not exported by default",
}
NO_FRAMES = "no frames"


def selected_text(name: str) -> str:
    """The status line once an object in the list is active: what the next gestures do to it."""
    return (f"Selected {name}: left click adds to its mask, right click removes, R box, B brush, E eraser; "
            "Esc deselects.")


class _ObjectItems(QStyledItemDelegate):
    """Shows "(no frames)" after the name of an object with no pixels anywhere, and the object's kind
    as a badge at the row's right end (the name elided before it); the name the rename editor gets
    stays the name alone."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        super().initStyleOption(option, index)
        if index.data(NOWHERE_ROLE):
            option.text = f"{option.text}  ({NO_FRAMES})"  # type: ignore[attr-defined]

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        kind = index.data(KIND_ROLE)
        if not kind:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        widget = opt.widget  # type: ignore[attr-defined]
        style = widget.style() if widget is not None else QApplication.style()
        metrics = opt.fontMetrics  # type: ignore[attr-defined]
        badge = metrics.horizontalAdvance(kind) + 2 * BADGE_PAD
        rect: QRect = opt.rect  # type: ignore[attr-defined]
        text_rect = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, opt, widget)
        room = max(0, rect.right() - text_rect.left() - badge - 2 * BADGE_PAD)
        opt.text = metrics.elidedText(opt.text, Qt.TextElideMode.ElideRight, room)  # type: ignore[attr-defined]
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        box = QRect(rect.right() - badge - BADGE_PAD, rect.top() + 2, badge, rect.height() - 4)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QColor(*BADGE_GREY))
        painter.drawRoundedRect(box, 4, 4)
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, kind)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        size = super().sizeHint(option, index)
        kind = index.data(KIND_ROLE)
        if kind:
            size.setWidth(size.width() + option.fontMetrics.horizontalAdvance(kind) + 4 * BADGE_PAD)  # type: ignore[attr-defined]
        return size


def _swatch(color: tuple[int, int, int]) -> QIcon:
    pm = QPixmap(14, 14)
    pm.fill(QColor(*color))
    return QIcon(pm)


class ObjectsPanel(QWidget):
    """The project's objects, each with its colour swatch; the selected one is what clicks and brushes
    edit. Automatic names (not yet confirmed by the user) are in italics. The context menu holds the
    object edits; each is one undoable edit in the store (`app.store.objects`), run by the controller."""

    def __init__(self, controller: MainController) -> None:
        super().__init__()
        self.c = controller
        self.list = QListWidget()
        self.list.setEditTriggers(QListWidget.EditTrigger.DoubleClicked | QListWidget.EditTrigger.EditKeyPressed)
        self.list.setItemDelegate(_ObjectItems(self.list))
        self.list.currentItemChanged.connect(self._picked)
        self.list.itemChanged.connect(self._renamed)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        buttons = QHBoxLayout()
        for name, tip, slot in (("add", "Add an object", self._add), ("settings", "Change colour", self._color),
                                ("delete", "Delete the object (in this shot or everywhere)", self._delete)):
            b = QPushButton(icon(name), "")
            b.setToolTip(tip)
            b.clicked.connect(slot)
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        controller.objects_changed.connect(self.refresh)
        controller.project_changed.connect(self.refresh)
        # Which objects are on the frame shown: looked up once the playhead rests, and after edits.
        self._here_timer = QTimer(self, singleShot=True, interval=HERE_DELAY_MS)
        self._here_timer.timeout.connect(self.mark_here)
        controller.frame_changed.connect(lambda _f: self._here_timer.start())
        controller.data_changed.connect(self._on_data)
        delete = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.list, self._delete)
        delete.setContext(Qt.ShortcutContext.WidgetShortcut)  # Del in the list; never on the canvas
        self._filling = False

    @Slot()
    def refresh(self) -> None:
        self._filling = True
        self.list.clear()
        objects = self.c.project.manifest.objects if self.c.project else []
        for obj in objects:
            shown = self.c.object_color(obj.id) or tuple(obj.color)
            item = QListWidgetItem(_swatch(shown), obj.name)  # type: ignore[arg-type]
            item.setData(Qt.ItemDataRole.UserRole, obj.id)
            item.setData(KIND_ROLE, obj.kind)
            state = "confirmed" if obj.confirmed else "automatic name: rename or confirm it"
            item.setToolTip(f"id {obj.id}, {obj.kind}, {state}")
            if not obj.confirmed:
                font = QFont(item.font())
                font.setItalic(True)
                item.setFont(font)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            self.list.addItem(item)
            if obj.id == self.c.object_id:  # the object clicks edit: selected, bold, marked
                font = item.font()
                font.setBold(True)
                item.setFont(font)
                item.setToolTip(f"id {obj.id}, {obj.kind}: clicks and brushes edit this object (Esc to deselect)")
                self.list.setCurrentItem(item)
        if self.c.object_id is None:
            self.list.setCurrentRow(-1)
        self._filling = False
        self.mark_here()

    def _on_data(self, changed: dict[str, object]) -> None:
        frames = changed.get("masks", ())
        if "masks" in changed and (frames is None or self.c.frame in frames):  # type: ignore[operator]
            self._here_timer.start()

    @Slot()
    def mark_here(self) -> None:
        """Grey the objects that have no pixels on the frame shown, and say where they are (in place:
        an open rename editor stays open). One with no pixels on any frame (a re-run of stage 1 no
        longer finds it, and the user named it) also reads "(no frames)"."""
        here = self.c.objects_on_frame()
        anywhere = self.c.objects_anywhere()
        self._filling = True
        for i in range(self.list.count()):
            item = self.list.item(i)
            oid = int(item.data(Qt.ItemDataRole.UserRole))
            tip = item.toolTip().split("\n", 1)[0] + self._where(oid, here, anywhere)
            item.setToolTip(tip)
            item.setForeground(QColor(*ABSENT_GREY) if oid not in here else self.list.palette().text().color())
            item.setData(HERE_ROLE, oid in here)
            item.setData(NOWHERE_ROLE, oid not in anywhere)
        self._filling = False

    def _found_in(self, oid: int) -> str:
        shots = self.c.object_shots(oid)
        return f"found in shot{'s' if len(shots) > 1 else ''} {', '.join(str(i + 1) for i in shots)}" if shots else ""

    def _where(self, oid: int, here: set[int], anywhere: set[int]) -> str:
        if oid in here:
            return ""
        if oid not in anywhere:
            return "\nNo pixels on any frame: stage 1 no longer finds it. Delete it if it is not needed."
        found = self._found_in(oid)
        return f"\nNot on this frame{'; ' + found if found else ''} (right click > Go to it)"

    def _current_id(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else int(item.data(Qt.ItemDataRole.UserRole))

    def _picked(self, item: QListWidgetItem | None, _prev: QListWidgetItem | None) -> None:
        if not self._filling and item is not None:
            oid, name = int(item.data(Qt.ItemDataRole.UserRole)), item.text()
            self.c.set_object(oid)  # refills the list: ``item`` is gone
            if oid not in self.c.objects_anywhere():
                self.c.status.emit(f"{name} has no pixels on any frame ({NO_FRAMES}): stage 1 no longer finds it; "
                                   "delete it if it is not needed.")
            elif oid not in self.c.objects_on_frame():
                found = self._found_in(oid)
                self.c.status.emit(f"{name} is not on this frame{' (' + found + ')' if found else ''}; "
                                   "right click > Go to it.")
            else:
                # Picked in the list, the object is active but nothing said so, nor what a click now does
                # (a click on the canvas that selects says it): on a real clip the status line kept
                # "Opened sakura: 72 frames" after the row lit up.
                self.c.status.emit(selected_text(name))

    def _renamed(self, item: QListWidgetItem) -> None:
        if not self._filling:
            self.c.rename_object(int(item.data(Qt.ItemDataRole.UserRole)), item.text())

    def _add(self) -> None:
        self.c.add_object()

    def _color(self) -> None:
        oid = self._current_id()
        if oid is None or self.c.project is None or (obj := self.c.project.object(oid)) is None:
            return
        chosen = QColorDialog.getColor(QColor(*obj.color), self, f"Colour of {obj.name}")
        if chosen.isValid():
            self.c.recolor_object(oid, (chosen.red(), chosen.green(), chosen.blue()))

    def _delete(self) -> None:
        oid = self._current_id()
        if oid is None or self.c.project is None or (obj := self.c.project.object(oid)) is None:
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Delete object", f"Delete {obj.name}?", parent=self)
        shot = box.addButton("In this shot", QMessageBox.ButtonRole.AcceptRole)
        everywhere = box.addButton("Everywhere", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        if box.clickedButton() is shot:
            self.c.delete_object(oid, this_shot=True)
        elif box.clickedButton() is everywhere:
            self.c.delete_object(oid)

    def merge_into(self, keep: int, absorb: int) -> None:
        """Merge ``absorb`` into ``keep``; when their kinds differ (a text into a character) only after
        the user says so."""
        project = self.c.project
        kept = project.object(keep) if project else None
        absorbed = project.object(absorb) if project else None
        if kept is None or absorbed is None:
            return
        if kept.kind == absorbed.kind:
            self.c.merge_objects(keep, absorb)
            return
        if self._anyway("Merge objects of different kinds", merge_kinds_text(absorbed, kept),
                        f"Merge {absorbed.name} into {kept.name}"):
            self.c.merge_objects(keep, absorb, allow_kinds=True)

    def reassign_to(self, oid: int, to: int, *, to_end: bool = False) -> None:
        """Reassign what is ``oid`` on this frame to ``to`` (this shot, or from here to its end); when that
        moves an object of another kind into ``to`` (a text's track into a character) only after the
        user says so, as for a merge."""
        reason = self.c.reassign_kinds(oid, to, to_end=to_end)
        if reason is None:
            self.c.reassign_object(oid, to, to_end=to_end)
            return
        project = self.c.project
        moved = project.object(oid) if project else None
        target = project.object(to) if project else None
        what = moved.name if moved is not None else f"Object {oid}"
        into = target.name if target is not None else f"Object {to}"
        if self._anyway("Reassign to an object of another kind", reason, f"Reassign {what} to {into}"):
            self.c.reassign_object(oid, to, to_end=to_end, allow_kinds=True)

    def _anyway(self, title: str, reason: str, action: str) -> bool:
        """Whether the user, told ``reason``, chose ``action`` over Cancel (the default) for an edit that
        mixes two kinds of object."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, reason, parent=self)
        anyway = box.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is anyway

    def menu_for(self, oid: int) -> QMenu:
        """The object's edits: rename, confirm, kind, merge, split, reassign (this shot / to its end), delete."""
        menu = QMenu(self)
        project = self.c.project
        menu.addAction("Go to it", lambda: self.c.go_to_object(oid))
        others = [o for o in (project.manifest.objects if project else []) if o.id != oid]
        item = next((self.list.item(i) for i in range(self.list.count())
                     if int(self.list.item(i).data(Qt.ItemDataRole.UserRole)) == oid), None)
        if item is not None:
            menu.addAction("Rename", lambda: self.list.editItem(item))
        info = project.object(oid) if project else None
        if info is not None and not info.confirmed:
            menu.addAction("Confirm name", lambda: self.c.confirm_object(oid))
        if info is not None:
            kinds = menu.addMenu("Kind")
            kinds.setToolTipsVisible(True)
            for kind in KINDS:
                action = kinds.addAction(kind.capitalize(), partial(self.c.set_object_kind, oid, kind))
                action.setCheckable(True)
                action.setChecked(kind == info.kind)
                action.setToolTip(KIND_TIPS[kind])
        merge = menu.addMenu("Merge into")
        this_shot = menu.addMenu("Reassign in this shot to")
        to_end = menu.addMenu("Reassign from here to shot end to")
        for o in others:
            swatch = _swatch((int(o.color[0]), int(o.color[1]), int(o.color[2])))
            merge.addAction(swatch, o.name, partial(self.merge_into, o.id, oid))
            this_shot.addAction(swatch, o.name, partial(self.reassign_to, oid, o.id))
            to_end.addAction(swatch, o.name, partial(self.reassign_to, oid, o.id, to_end=True))
        menu.addAction("Split this shot off as a new object", lambda: self.c.split_object(oid))
        menu.addSeparator()
        menu.addAction("Delete...", self._delete)
        return menu

    def _menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        self.list.setCurrentItem(item)
        self.menu_for(int(item.data(Qt.ItemDataRole.UserRole))).exec(self.list.mapToGlobal(pos))


class LayersPanel(QWidget):
    """One row per layer: visible, solo, opacity."""

    def __init__(self, controller: MainController) -> None:
        super().__init__()
        self.c = controller
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 6, 6, 6)
        self.checks: dict[str, QCheckBox] = {}
        self.solos: dict[str, QPushButton] = {}
        self.sliders: dict[str, QSlider] = {}
        for row, name in enumerate(reversed(LAYER_ORDER)):  # top of the stack first, as in editors
            check = QCheckBox(LAYER_LABELS[name])
            check.toggled.connect(lambda on, n=name: self.c.set_layer_visible(n, on))
            solo = QPushButton("S")
            solo.setCheckable(True)
            solo.setFixedWidth(30)
            solo.setStyleSheet("padding: 2px;")
            solo.setToolTip(f"Show only {LAYER_LABELS[name].lower()}")
            solo.clicked.connect(lambda _on, n=name: self.c.set_solo(n))
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(0, 100)
            slider.setFixedWidth(80)
            slider.setToolTip("Opacity")
            slider.valueChanged.connect(lambda v, n=name: self.c.set_layer_opacity(n, v / 100))
            grid.addWidget(check, row, 0)
            grid.addWidget(solo, row, 1)
            grid.addWidget(slider, row, 2)
            self.checks[name], self.solos[name], self.sliders[name] = check, solo, slider
        grid.setRowStretch(len(LAYER_ORDER), 1)
        controller.layers_changed.connect(self.refresh)
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        for name in LAYER_ORDER:
            state = self.c.layers[name]
            for widget, setter in ((self.checks[name], lambda w, s=state: w.setChecked(s.visible)),
                                   (self.solos[name], lambda w, n=name: w.setChecked(self.c.solo == n)),
                                   (self.sliders[name], lambda w, s=state: w.setValue(round(s.opacity * 100)))):
                widget.blockSignals(True)
                setter(widget)
                widget.blockSignals(False)
