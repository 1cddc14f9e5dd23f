"""The frame view: a QGraphicsScene with one pixmap item per layer, in full-resolution coordinates.

While scrubbing it shows proxies (scaled up to full size so layers line up); once the playhead rests it
swaps in the full-resolution frame. Gestures go to the controller: left click = positive point, right
click = negative point (the point tool never makes a box, however the hand shakes), box tool = drag a
box, brush/eraser strokes under a circle cursor of the brush's size; wheel zooms, middle drag or
Space+drag pans. The cursor and the active object's outline share its colour, so it is always plain
which object a click edits.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Slot
from PySide6.QtGui import (
    QBrush,
    QColor,
    QCursor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QLabel,
    QWidget,
)

from app.ui.controller import MainController
from app.ui.loader import FrameImages
from app.ui.render import LAYER_ORDER, checkerboard, to_qimage

HINT = ("Click an object to select it, click again to refine it; click on background to start a new one.\n"
        "Right click removes. B brush, E eraser, R box, [ ] brush size, Esc clears. Help > Shortcuts (F1)")

# A box drag must move this far (manhattan, view px) before it counts; a tablet pen wobbles 4-6 px.
DRAG_THRESHOLD = 12
SIDE_GAP = 24
FULL_RES_DELAY_MS = 150


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
        self.layer_items: dict[str, QGraphicsPixmapItem] = {}
        for z, name in enumerate(LAYER_ORDER):
            item = QGraphicsPixmapItem()
            item.setZValue(z)
            item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
            self.scene().addItem(item)
            self.layer_items[name] = item
        # Transparency shows as a checkerboard (under every layer) whenever no opaque frame is shown.
        self.checker = QGraphicsRectItem()
        self.checker.setPen(QPen(Qt.PenStyle.NoPen))
        self.checker.setBrush(QBrush(QPixmap.fromImage(to_qimage(checkerboard(32, 32)))))
        self.checker.setZValue(-1)
        self.scene().addItem(self.checker)
        self.side = QGraphicsPixmapItem()
        self.side_label = QGraphicsSimpleTextItem("Clean plate")
        self.side_label.setBrush(QColor(220, 220, 220))
        self.main_label = QGraphicsSimpleTextItem("Frame")
        self.main_label.setBrush(QColor(220, 220, 220))
        for extra in (self.side, self.side_label, self.main_label):
            self.scene().addItem(extra)
            extra.setVisible(False)
        # A/B flip: which picture is on screen, in the corner of the view (not the scene).
        self.ab_label = QLabel(self)
        self.ab_label.setStyleSheet("background: rgba(20,20,24,200); color: #ffd878; padding: 3px 6px;")
        self.ab_label.setVisible(False)
        self.hint = QLabel(HINT, self)
        self.hint.setStyleSheet("background: rgba(20,20,24,215); color: #e8e8e8; padding: 8px; border-radius: 4px;")
        self.hint.setWordWrap(True)
        self.hint.setVisible(False)
        self.brush_cursor = QGraphicsEllipseItem()
        self.brush_cursor.setZValue(103)
        self.brush_cursor.setVisible(False)
        self.scene().addItem(self.brush_cursor)
        self.overlay = QGraphicsPathItem()
        self.overlay.setZValue(100)
        self.scene().addItem(self.overlay)
        self.rubber = QGraphicsRectItem()
        self.rubber.setPen(QPen(QColor(255, 255, 255), 0, Qt.PenStyle.DashLine))
        self.rubber.setZValue(101)
        self.rubber.setVisible(False)
        self.scene().addItem(self.rubber)
        self._marks: list[QGraphicsItem] = []
        self.shown: FrameImages | None = None
        self._keys: dict[str, int] = {}
        self._fit = True
        self._press: QPointF | None = None
        self._press_button = Qt.MouseButton.NoButton
        self._press_modifiers = Qt.KeyboardModifier.NoModifier
        self._pan_from: QPointF | None = None
        self._space = False
        self._panned = False
        self._stroke: list[tuple[float, float]] = []
        self._idle = QTimer(self, singleShot=True, interval=FULL_RES_DELAY_MS)
        self._idle.timeout.connect(self._load_full)
        self.setMouseTracking(True)
        self.viewport().setMouseTracking(True)
        controller.prompt_changed.connect(self._draw_prompt)
        controller.objects_changed.connect(self._update_cursor)
        controller.tool_changed.connect(lambda _t: self._update_cursor())
        controller.project_changed.connect(self._on_project)
        controller.frame_changed.connect(self.show_frame)
        controller.layers_changed.connect(self._on_layers)
        controller.data_changed.connect(self._on_data)

    # -- project and frames -------------------------------------------------------------------------
    @Slot()
    def _on_project(self) -> None:
        self.shown = None
        self._keys.clear()
        for item in self.layer_items.values():
            item.setPixmap(QPixmap())
        if self.c.loader is not None:
            self.c.loader.loaded.connect(self._on_loaded)
        self._layout_scene()
        self._fit = True
        self.fit()

    def _layout_scene(self) -> None:
        p = self.c.project
        if p is None:
            self.scene().setSceneRect(QRectF(0, 0, 640, 360))
            return
        side = self.c.compare == "side"
        self.checker.setRect(QRectF(0, 0, p.width, p.height))
        self.side.setVisible(side)
        self.side_label.setVisible(side)
        self.main_label.setVisible(side)
        self.side.setPos(p.width + SIDE_GAP, 0)
        self.side_label.setText("B: clean plate")
        self.side_label.setPos(p.width + SIDE_GAP, -22)
        self.main_label.setText("A: frame")
        self.main_label.setPos(0, -22)
        for label in (self.side_label, self.main_label):
            label.setScale(max(1.0, p.width / 900))
        width = p.width * 2 + SIDE_GAP if side else p.width
        self.scene().setSceneRect(QRectF(0, -26 if side else 0, width, p.height + (26 if side else 0)))

    def fit(self) -> None:
        self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def zoom_state(self) -> dict[str, float | bool]:
        """Zoom and the scene point at the centre, for the per-project view state."""
        centre = self.mapToScene(self.viewport().rect().center())
        return {"fit": self._fit, "zoom": self.transform().m11(), "cx": centre.x(), "cy": centre.y()}

    def set_zoom(self, zoom: float, cx: float, cy: float) -> None:
        self._fit = False
        self.resetTransform()
        self.scale(zoom, zoom)
        self.centerOn(QPointF(cx, cy))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._fit:
            self.fit()

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
        scale = p.width / max(1, entry.size[0])
        for name, item in self.layer_items.items():
            image = entry.images.get(name)
            key = image.cacheKey() if image is not None else 0
            if self._keys.get(name) != key:
                item.setPixmap(QPixmap.fromImage(image) if image is not None else QPixmap())
                self._keys[name] = key
            item.setScale(scale)
        clean = entry.images.get("clean")
        if self.c.compare == "side" and self._keys.get("side") != (clean.cacheKey() if clean else 0):
            self.side.setPixmap(QPixmap.fromImage(clean) if clean is not None else QPixmap())
            self._keys["side"] = clean.cacheKey() if clean else 0
        self.side.setScale(scale)
        self.shown = entry
        self._apply_visibility()

    def _apply_visibility(self) -> None:
        for name, item in self.layer_items.items():
            item.setVisible(self.c.is_shown(name) and not item.pixmap().isNull())
            item.setOpacity(self.c.layers[name].opacity)
        opaque = any(self.layer_items[n].isVisible() and self.c.layers[n].opacity >= 0.99 for n in ("image", "clean"))
        self.checker.setVisible(self.c.project is not None and not opaque)
        ab = self.c.compare == "ab"
        if ab:
            self.ab_label.setText("B: clean plate (A to flip)" if self.c.ab_show_clean else "A: frame (A to flip)")
            self.ab_label.adjustSize()
            self.ab_label.move(8, 8)
        self.ab_label.setVisible(ab)

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

    # -- gestures -----------------------------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:
        factor = 1.25 ** (event.angleDelta().y() / 120)
        self._fit = False
        self.scale(factor, factor)

    def keyPressEvent(self, event: QKeyEvent) -> None:
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

    def _scene_xy(self, pos: QPointF) -> tuple[float, float]:
        pt = self.mapToScene(pos.toPoint())
        x = pt.x()
        if self.c.compare == "side" and self.c.project and x > self.c.project.width:
            x -= self.c.project.width + SIDE_GAP  # a click on the clean plate means the same pixel
        return x, pt.y()

    def _update_cursor(self) -> None:
        """A crosshair in the active object's colour (white with none: the next click selects)."""
        color = self.c.object_color(self.c.object_id)
        qc = QColor(*color) if color is not None else QColor(255, 255, 255)
        if self.c.tool in ("brush", "eraser"):
            self.viewport().setCursor(Qt.CursorShape.BlankCursor if self.brush_cursor.isVisible() else
                                      Qt.CursorShape.CrossCursor)
            pen = QPen(QColor(255, 90, 90) if self.c.tool == "eraser" else qc, 0)
            self.brush_cursor.setPen(pen)
            return
        self.brush_cursor.setVisible(False)
        self.viewport().setCursor(QCursor(_crosshair(qc, box=self.c.tool == "box"), 11, 11))

    def _move_brush_cursor(self, pos: QPointF) -> None:
        if self.c.tool not in ("brush", "eraser") or self.c.project is None:
            self.brush_cursor.setVisible(False)
            return
        x, y = self._scene_xy(pos)
        r = float(self.c.brush_radius)
        self.brush_cursor.setRect(QRectF(x - r, y - r, 2 * r, 2 * r))
        if not self.brush_cursor.isVisible():
            self.brush_cursor.setVisible(True)
            self._update_cursor()

    def leaveEvent(self, event: object) -> None:
        self.brush_cursor.setVisible(False)
        super().leaveEvent(event)  # type: ignore[arg-type]

    def show_hint(self, on: bool) -> None:
        """The first-run hint over the canvas (the window decides when; a click dismisses it)."""
        self.hint.setVisible(on)
        if on:
            self.hint.setFixedWidth(min(560, max(260, self.viewport().width() - 40)))
            self.hint.adjustSize()
            self.hint.move(16, self.viewport().height() - self.hint.height() - 16)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.hint.setVisible(False)
        if event.button() == Qt.MouseButton.MiddleButton or (self._space and event.button() == Qt.MouseButton.LeftButton):
            self._pan_from = event.position()
            self._panned = True
            return
        self._press, self._press_button = event.position(), event.button()
        self._press_modifiers = event.modifiers()
        if self.c.tool in ("brush", "eraser") and event.button() == Qt.MouseButton.LeftButton:
            self._stroke = [self._scene_xy(event.position())]

    def _is_box_gesture(self) -> bool:
        """The box tool, or Shift held with the point tool."""
        shift = bool(self._press_modifiers & Qt.KeyboardModifier.ShiftModifier)
        return self.c.tool == "box" or (self.c.tool == "click" and shift)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self._move_brush_cursor(event.position())
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(delta.y()))
            return
        if self._press is None:
            return
        if self._stroke:
            self._stroke.append(self._scene_xy(event.position()))
            path = QPainterPath(QPointF(*self._stroke[0]))
            for x, y in self._stroke[1:]:
                path.lineTo(x, y)
            color = QColor(255, 80, 80, 160) if self.c.tool == "eraser" else QColor(80, 200, 255, 160)
            self.overlay.setPen(QPen(color, 2 * self.c.brush_radius, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            self.overlay.setPath(path)
        elif self._press_button == Qt.MouseButton.LeftButton and self._is_box_gesture() and self._dragged(event.position()):
            x0, y0 = self._scene_xy(self._press)
            x1, y1 = self._scene_xy(event.position())
            self.rubber.setRect(QRectF(QPointF(x0, y0), QPointF(x1, y1)).normalized())
            self.rubber.setVisible(True)

    def _dragged(self, pos: QPointF, press: QPointF | None = None) -> bool:
        start = press if press is not None else self._press
        return start is not None and (pos - start).manhattanLength() > DRAG_THRESHOLD

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            return
        if self._press is None:
            return
        press, button, self._press = self._press, self._press_button, None
        box = self._is_box_gesture()
        self.rubber.setVisible(False)
        if self._stroke:
            stroke, self._stroke = self._stroke, []
            self.overlay.setPath(QPainterPath())
            self.c.brush(stroke)
        elif box and button == Qt.MouseButton.LeftButton:
            if self._dragged(event.position(), press):
                x0, y0 = self._scene_xy(press)
                x1, y1 = self._scene_xy(event.position())
                self.c.set_box(x0, y0, x1, y1)
            else:
                self.c.status.emit("Box tool: drag a box around the object (V for points).")
        elif button in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            # The point tool: wherever the pen went between press and release, it is a click where it
            # was pressed. Only the box tool (or Shift) draws boxes.
            x, y = self._scene_xy(press)
            self.c.click(x, y, positive=button == Qt.MouseButton.LeftButton)
        self._draw_prompt()


def _crosshair(color: QColor, box: bool = False) -> QPixmap:
    """A 23 px crosshair in ``color`` with a dark rim (readable on any frame); a small square for box."""
    img = QImage(23, 23, QImage.Format.Format_ARGB32_Premultiplied)
    img.fill(0)
    p = QPainter(img)
    for pen in (QPen(QColor(0, 0, 0, 200), 3), QPen(color, 1)):
        p.setPen(pen)
        p.drawLine(11, 0, 11, 8)
        p.drawLine(11, 14, 11, 22)
        p.drawLine(0, 11, 8, 11)
        p.drawLine(14, 11, 22, 11)
        if box:
            p.drawRect(14, 14, 7, 7)
    p.end()
    return QPixmap.fromImage(img)
