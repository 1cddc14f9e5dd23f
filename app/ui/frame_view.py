"""The frame view: a QGraphicsScene with one pixmap item per layer, in full-resolution coordinates.

While scrubbing it shows proxies (scaled up to full size so layers line up); once the playhead rests it
swaps in the full-resolution frame. The view zooms (wheel) and pans (middle drag or
Space+drag); every other gesture goes to the active tool (`app.ui.tools`: point, box, brush, eraser),
which turns it into controller actions. The cursor and the active object's outline share its colour,
so it is always plain which object a click edits.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, Qt, QTimer, Slot
from PySide6.QtGui import (
    QBrush,
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPen,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
    QLabel,
    QWidget,
)

from app.ui.controller import MainController
from app.ui.layer_stack import SIDE_GAP, LayerStack
from app.ui.loader import FrameImages
from app.ui.render import LAYER_LABELS, LAYER_ORDER, qimage_to_array
from app.ui.tools import TOOLS, Interaction

HINT = ("Click an object to select it, click again to refine it; click on background to start a new one.\n"
        "Right click removes. B brush, E eraser, R box, [ ] brush size, Esc clears. Help > Shortcuts (F1)\n"
        "(Click this note to close it; Help > Show the getting-started hint brings it back.)")
HINT_SHOWN_MS = 45_000  # then it goes by itself: it covers part of the frame


class _Hint(QLabel):
    """The getting-started note over the canvas: a click on it closes it."""

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.hide()
        event.accept()

FULL_RES_DELAY_MS = 150
BUILDING_DELAY_MS = 250  # a layer loading longer than this says so (a quick one while scrubbing would flicker)


def invented_text(share: float | None, hatched: bool) -> str:
    """How much of this frame's clean plate no frame of the shot shows (made up by inpainting)."""
    if share is None:
        return ""
    if share <= 0.0:
        return "nothing invented"
    pct = "<1%" if share < 0.005 else f"{round(100 * share)}%"
    return f"{pct} invented{' (hatched)' if hatched else ''}"


def solo_text(layer: str, images: dict[str, QImage | None], invented: str = "") -> str:
    """The corner line while ``layer`` is soloed: its name, whether this frame has it, and the way back;
    for the clean plate, how much of it is invented (`invented_text`)."""
    key = list(reversed(LAYER_ORDER)).index(layer) + 1
    state = ""
    if layer in images:
        image = images[layer]
        if image is None:
            state = " - not computed on this frame"
        elif not qimage_to_array(image)[..., 3].any():
            state = " - nothing on this frame"
        elif layer == "clean" and invented:
            state = f" - {invented}"
    return f"Solo: {LAYER_LABELS[layer]}{state} (Alt+{key} or S again: every layer)"


def building_text(layers: list[str], frame: int, picture_of: int | None) -> str:
    """The corner line while ``layers`` of ``frame`` are built off the UI thread; ``picture_of`` is the
    frame whose picture stays on screen until then (None: no picture)."""
    names = ", ".join(LAYER_LABELS[name] for name in layers)
    if picture_of == frame:
        return f"Updating {names}..."
    until = f" (frame {picture_of + 1}'s shown until then)" if picture_of is not None else ""
    return f"Building {names} for frame {frame + 1}...{until}"


LABEL_STYLE = "background: rgba(20,20,24,{alpha}); color: rgba(255,216,120,{text}); padding: 3px 6px;"
LABEL_GAP = 6  # px between a corner label and the picture or the view's edge
MIN_WRAP = 150  # px: the narrowest side band a label is wrapped into rather than laid over the picture


class FrameView(QGraphicsView):
    """Shows the current frame's layers and turns mouse gestures into controller actions."""

    def __init__(self, controller: MainController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.c = controller
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setBackgroundBrush(QColor(24, 25, 28))
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAcceptDrops(False)  # the main window takes dropped videos
        self.stack = LayerStack(self.scene())
        self.layer_items = self.stack.layer_items
        # A/B flip: which picture is on screen, in the corner of the view (not the scene).
        self.ab_label = QLabel(self)
        self.ab_label.setStyleSheet(LABEL_STYLE.format(alpha=200, text=255))
        self.ab_label.setVisible(False)
        # Solo: which layer alone is on screen, and when it has nothing on this frame, that it has none
        # (sakura_quest: Effects solo was a black frame, Object masks solo on an empty frame a bare one).
        self.solo_label = QLabel(self)
        self.solo_label.setStyleSheet(LABEL_STYLE.format(alpha=200, text=255))
        self.labels_over_picture = False  # no free margin: the labels sit translucent over the picture
        self.solo_label.setVisible(False)
        # A shown layer still being built for this frame (the last picture stays meanwhile): says so.
        self.building_label = QLabel(self)
        self.building_label.setStyleSheet(LABEL_STYLE.format(alpha=200, text=255))
        self.building_label.setVisible(False)
        self._building = QTimer(self, singleShot=True, interval=BUILDING_DELAY_MS)
        self._building.timeout.connect(self._show_building)
        self.hint = _Hint(HINT, self)
        self.hint.setStyleSheet("background: rgba(20,20,24,215); color: #e8e8e8; padding: 8px; border-radius: 4px;")
        self.hint.setWordWrap(True)
        self.hint.setCursor(Qt.CursorShape.PointingHandCursor)
        self.hint.setVisible(False)
        self._hint_timer = QTimer(self, singleShot=True, interval=HINT_SHOWN_MS)
        self._hint_timer.timeout.connect(self.hide_hint)
        self.tools: dict[str, Interaction] = {name: tool(self) for name, tool in TOOLS.items()}
        self._pressed: Interaction | None = None
        self._marks: list[QGraphicsItem] = []
        self.shown: FrameImages | None = None
        self._fit = True
        self._pan_from: QPointF | None = None
        self._space = False
        self._panned = False
        self._idle = QTimer(self, singleShot=True, interval=FULL_RES_DELAY_MS)
        self._idle.timeout.connect(self._load_full)
        self.setMouseTracking(True)
        self.viewport().setMouseTracking(True)
        controller.prompt_changed.connect(self._draw_prompt)
        controller.objects_changed.connect(self.update_cursor)
        controller.tool_changed.connect(lambda _t: self._on_tool())
        controller.project_changed.connect(self._on_project)
        controller.frame_changed.connect(self.show_frame)
        controller.layers_changed.connect(self._on_layers)
        controller.data_changed.connect(self._on_data)

    # -- project and frames -------------------------------------------------------------------------
    @Slot()
    def _on_project(self) -> None:
        self.shown = None
        self.stack.clear()
        if self.c.loader is not None:
            self.c.loader.loaded.connect(self._on_loaded)
            self.c.loader.failed.connect(self._load_failed)
        self._layout_scene()
        self._fit = True
        self.fit()

    def _layout_scene(self) -> None:
        p = self.c.project
        if p is None:
            self.scene().setSceneRect(QRectF(0, 0, 640, 360))
        else:
            self.stack.layout(p.width, p.height, self.c.compare == "side")

    def fit(self) -> None:
        self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        self.place_labels()

    def zoom_state(self) -> dict[str, float | bool]:
        """Zoom and the scene point at the centre, for the per-project view state."""
        centre = self.mapToScene(self.viewport().rect().center())
        return {"fit": self._fit, "zoom": self.transform().m11(), "cx": centre.x(), "cy": centre.y()}

    def set_zoom(self, zoom: float, cx: float, cy: float) -> None:
        self._fit = False
        self.resetTransform()
        self.scale(zoom, zoom)
        self.centerOn(QPointF(cx, cy))
        self.place_labels()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.hint.isVisible():
            self._place_hint()  # stays in the bottom-left corner, not half off a smaller view
        if self._fit:
            self.fit()
        self.place_labels()

    @Slot(int)
    def show_frame(self, frame: int) -> None:
        loader = self.c.loader
        if loader is None:
            return
        layers = self.c.shown_layers()
        if loader.cached(frame, True) is not None:
            # Full resolution seen before: load only what changed and keep the picture until then,
            # instead of falling back to a proxy render of every layer.
            entry = loader.request(frame, True, layers)
        else:
            entry = loader.request(frame, False, layers)
            self._idle.start()
        if entry is not None:
            self.display(entry)
        self._update_building()
        self._draw_prompt()

    @Slot()
    def _load_full(self) -> None:
        if self.c.loader is not None and self.c.project is not None:
            entry = self.c.loader.request(self.c.frame, True, self.c.shown_layers())
            if entry is not None:
                self.display(entry)

    @Slot(object)
    def _on_loaded(self, entry: FrameImages) -> None:
        if entry.frame != self.c.frame:
            return
        if not entry.full and self.shown is not None and self.shown.full and self.shown.frame == entry.frame:
            return  # never downgrade a full-resolution picture to a proxy
        needed = self.c.shown_layers()
        if any(name not in entry.images for name in needed):
            self.show_frame(entry.frame)  # a layer was invalidated meanwhile: ask again
            return
        self.display(entry)

    def display(self, entry: FrameImages) -> None:
        """Put ``entry``'s images into the layer items (pixmaps are rebuilt only for new images)."""
        p = self.c.project
        if p is None:
            return
        self.stack.set_images(entry, p.width, self.c.compare == "side")
        self.shown = entry
        self._apply_visibility()

    def invented_note(self) -> str:
        """`invented_text` for the plate shown now ("" when none is, or it has no confidence layer)."""
        loader, shown = self.c.loader, self.shown
        if loader is None or shown is None or shown.images.get("clean") is None:
            return ""
        return invented_text(loader.plate_invented.get(shown.frame), self.c.mark_invented)

    def _apply_visibility(self) -> None:
        self.stack.apply_visibility(self.c)
        note = self.invented_note()
        ab = self.c.compare == "ab"
        if ab:
            self.ab_label.setText((f"B: clean plate{', ' + note if note else ''} (A to flip)") if self.c.ab_show_clean
                                  else "A: frame (A to flip)")
            self.ab_label.adjustSize()
        self.ab_label.setVisible(ab)
        self.stack.side_label.setText(f"B: clean plate{', ' + note if note else ''}")
        solo = self.c.solo
        if solo is not None:
            self.solo_label.setText(solo_text(solo, self.shown.images if self.shown is not None else {}, note))
            self.solo_label.adjustSize()
        self.solo_label.setVisible(solo is not None)
        self._update_building()
        self.place_labels()

    def building_layers(self) -> list[str]:
        """The shown layers whose picture is not yet this frame's latest: asked of the loader, not back."""
        shown, frame = self.shown, self.c.frame
        if self.c.project is None:
            return []
        if shown is None or shown.frame != frame:
            return list(self.c.shown_layers())
        return [name for name in self.c.shown_layers()
                if name not in shown.images or self.stack.frames.get(name) != frame]

    def _update_building(self) -> None:
        """Hide the building label once nothing is; show it only for a load longer than `BUILDING_DELAY_MS`."""
        if not self.building_layers():
            self._building.stop()
            if self.building_label.isVisible():
                self.building_label.setVisible(False)
                self.place_labels()
        elif self.building_label.isVisible():
            self._show_building()
        elif not self._building.isActive():
            self._building.start()

    @Slot()
    def _show_building(self) -> None:
        layers = self.building_layers()
        if not layers or self.c.project is None:
            return
        pictures = [self.stack.frames.get(name) for name in layers
                    if not self.stack.layer_items[name].pixmap().isNull()]
        self.building_label.setText(building_text(layers, self.c.frame, pictures[0] if pictures else None))
        self.building_label.adjustSize()
        self.building_label.setVisible(True)
        self.place_labels()

    @Slot(str)
    def _load_failed(self, _message: str) -> None:
        """The window reports the failure; nothing is being built any more."""
        self._building.stop()
        self.building_label.setVisible(False)
        self.place_labels()

    def picture_rect(self) -> QRect:
        """Where the frame (and, side by side, the plate) is drawn, in the view's own coordinates."""
        p = self.c.project
        if p is None:
            return QRect()
        width = p.width * 2 + SIDE_GAP if self.c.compare == "side" else p.width
        rect = self.mapFromScene(QRectF(0, 0, width, p.height)).boundingRect()
        return rect.translated(self.viewport().geometry().topLeft())

    def place_labels(self) -> None:
        """The A/B and solo labels (stacked) where they cover no picture: in the free band above the frame,
        else below it, else beside it (wrapped to the band when it is narrower than a line, down to
        `MIN_WRAP` px); with no band wide enough (the frame fills the view) at the top left, translucent,
        so the picture shows through."""
        labels = [label for label in (self.ab_label, self.solo_label, self.building_label) if not label.isHidden()]
        if not labels:
            return
        for label in labels:  # one line each, unless a side band wraps them below
            label.setWordWrap(False)
            label.setFixedWidth(label.sizeHint().width())
            label.resize(label.sizeHint())
        g = LABEL_GAP
        w = max(label.width() for label in labels)
        h = sum(label.height() for label in labels) + 4 * (len(labels) - 1)
        view = self.viewport().geometry()
        pic = self.picture_rect()
        left, right = pic.left() - view.left() - 2 * g, view.right() - pic.right() - 2 * g
        x, y, over = view.left() + g, view.top() + g, False
        if pic.isNull() or pic.top() - view.top() >= h + 2 * g:
            if not pic.isNull():
                x, y = max(view.left() + g, pic.left()), max(view.top() + g, pic.top() - h - g)
        elif view.bottom() - pic.bottom() >= h + 2 * g:
            x, y = max(view.left() + g, pic.left()), pic.bottom() + g
        elif max(left, right) >= min(w, MIN_WRAP):
            band = max(left, right)
            if band < w:
                for label in labels:
                    label.setWordWrap(True)
                    label.setFixedWidth(band)
                    label.resize(band, label.heightForWidth(band))
            x = view.left() + g if left >= right else pic.right() + g
            y = max(view.top() + g, pic.top())
        else:
            over = True
        if over != self.labels_over_picture:
            self.labels_over_picture = over
            style = LABEL_STYLE.format(alpha=90, text=200) if over else LABEL_STYLE.format(alpha=200, text=255)
            for label in (self.ab_label, self.solo_label, self.building_label):
                label.setStyleSheet(style)
        for label in labels:
            label.move(x, y)
            y += label.height() + 4

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        if hasattr(self, "building_label"):  # Qt may scroll while __init__ is still building the view
            self.place_labels()

    @Slot()
    def _on_layers(self) -> None:
        self._layout_scene()
        if self._fit:
            self.fit()
        self._apply_visibility()
        self.show_frame(self.c.frame)

    @Slot(object)
    def _on_data(self, dirty: dict[str, object]) -> None:
        for frames in dirty.values():
            if frames is None or self.c.frame in frames:  # type: ignore[operator]
                self.show_frame(self.c.frame)
                return

    # -- prompt overlay -----------------------------------------------------------------------------
    def _draw_prompt(self) -> None:
        for mark in self._marks:
            self.scene().removeItem(mark)
        self._marks = []
        radius = max(3.0, (self.c.project.width if self.c.project else 640) / 200)
        for x, y, positive in self.c.points:
            dot = QGraphicsEllipseItem(x - radius, y - radius, 2 * radius, 2 * radius)
            dot.setBrush(QBrush(QColor(60, 220, 90) if positive else QColor(240, 60, 60)))
            dot.setPen(QPen(QColor(255, 255, 255), 0))
            dot.setZValue(102)
            self.scene().addItem(dot)
            self._marks.append(dot)
        if self.c.box is not None:
            x0, y0, x1, y1 = self.c.box
            rect = QGraphicsRectItem(x0, y0, x1 - x0, y1 - y0)
            rect.setPen(QPen(QColor(255, 220, 0), 0))
            rect.setZValue(102)
            self.scene().addItem(rect)
            self._marks.append(rect)

    # -- gestures: zoom and pan here, the rest to the active tool ----------------------------------------
    @property
    def tool(self) -> Interaction:
        return self.tools[self.c.tool]

    def _on_tool(self) -> None:
        for name, tool in self.tools.items():
            if name != self.c.tool:
                tool.deactivate()
        self.update_cursor()

    def update_cursor(self) -> None:
        """The active tool's cursor in the active object's colour (white with none: a click selects)."""
        color = self.c.object_color(self.c.object_id)
        self.tool.activate(QColor(*color) if color is not None else QColor(255, 255, 255))

    def wheelEvent(self, event: QWheelEvent) -> None:
        self.hide_hint()
        factor = 1.25 ** (event.angleDelta().y() / 120)
        self._fit = False
        self.scale(factor, factor)
        self.place_labels()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        self.hide_hint()
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space, self._panned = True, False
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            if not self._panned:
                self.c.toggle_play()  # Space alone plays; Space+drag only pans
            return
        super().keyReleaseEvent(event)

    def scene_xy(self, pos: QPointF) -> tuple[float, float]:
        """Scene (full-resolution frame) pixel under view position ``pos``."""
        pt = self.mapToScene(pos.toPoint())
        x = pt.x()
        if self.c.compare == "side" and self.c.project and x > self.c.project.width:
            x -= self.c.project.width + SIDE_GAP  # a click on the clean plate means the same pixel
        return x, pt.y()

    def leaveEvent(self, event: QEvent) -> None:
        self.tool.leave()
        super().leaveEvent(event)

    def show_hint(self, on: bool) -> None:
        """The first-run hint over the canvas (the window decides when). It goes at the user's first
        gesture on the frame, key or action in the window (`MainWindow`), a click on it, or by itself
        after `HINT_SHOWN_MS`."""
        self.hint.setVisible(on)
        if on:
            self._place_hint()
            self._hint_timer.start()
        else:
            self._hint_timer.stop()

    @Slot()
    def hide_hint(self) -> None:
        if self.hint.isVisible():
            self.show_hint(False)

    def _place_hint(self) -> None:
        self.hint.setFixedWidth(min(560, max(260, self.viewport().width() - 40)))
        self.hint.adjustSize()
        self.hint.move(16, self.viewport().height() - self.hint.height() - 16)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.hide_hint()
        if event.button() == Qt.MouseButton.MiddleButton or (self._space and event.button() == Qt.MouseButton.LeftButton):
            self._pan_from = event.position()
            self._panned = True
            return
        self._pressed = self.tool
        self._pressed.press(event.position(), event.button(), event.modifiers())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self.tool.hover(event.position())
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(delta.y()))
        elif self._pressed is not None:
            self._pressed.drag(event.position())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            return
        # The tool that saw the press gets the release, even if a key switched tools meanwhile.
        pressed, self._pressed = self._pressed, None
        if pressed is not None:
            pressed.release(event.position())
        self._draw_prompt()
