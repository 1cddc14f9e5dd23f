"""The brush (B) and eraser (E): paint or erase the active object along a stroke, under a circle
cursor of the brush's size. The stroke's pixels are computed Qt-free (`app.pipeline.strokes`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsPathItem

from app.ui.tools.base import Interaction

if TYPE_CHECKING:
    from app.ui.frame_view import FrameView

STROKE_COLOR = QColor(80, 200, 255, 160)


class BrushTool(Interaction):
    """Left-drag paints a stroke (shown as it is drawn); the release sends it to the controller."""

    name = "brush"
    erase = False

    def __init__(self, view: FrameView) -> None:
        super().__init__(view)
        self.cursor_item = QGraphicsEllipseItem()
        self.cursor_item.setZValue(103)
        self.cursor_item.setVisible(False)
        self.overlay = QGraphicsPathItem()
        self.overlay.setZValue(100)
        for item in (self.cursor_item, self.overlay):
            view.scene().addItem(item)
        self.stroke: list[tuple[float, float]] = []

    def activate(self, color: QColor) -> None:
        # The system cursor hides while the circle shows where the brush will paint.
        shape = Qt.CursorShape.BlankCursor if self.cursor_item.isVisible() else Qt.CursorShape.CrossCursor
        self.view.viewport().setCursor(shape)
        self.cursor_item.setPen(QPen(QColor(255, 90, 90) if self.erase else color, 0))

    def deactivate(self) -> None:
        self.cursor_item.setVisible(False)

    def leave(self) -> None:
        self.cursor_item.setVisible(False)

    def hover(self, pos: QPointF) -> None:
        if self.c.project is None:
            self.cursor_item.setVisible(False)
            return
        x, y = self.view.scene_xy(pos)
        r = float(self.c.brush_radius)
        self.cursor_item.setRect(QRectF(x - r, y - r, 2 * r, 2 * r))
        if not self.cursor_item.isVisible():
            self.cursor_item.setVisible(True)
            self.view.update_cursor()

    def press(self, pos: QPointF, button: Qt.MouseButton, modifiers: Qt.KeyboardModifier) -> None:
        if button == Qt.MouseButton.LeftButton:
            self.stroke = [self.view.scene_xy(pos)]

    def drag(self, pos: QPointF) -> None:
        if not self.stroke:
            return
        self.stroke.append(self.view.scene_xy(pos))
        path = QPainterPath(QPointF(*self.stroke[0]))
        for x, y in self.stroke[1:]:
            path.lineTo(x, y)
        color = QColor(255, 80, 80, 160) if self.erase else STROKE_COLOR
        self.overlay.setPen(QPen(color, 2 * self.c.brush_radius, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        self.overlay.setPath(path)

    def release(self, pos: QPointF) -> None:
        if not self.stroke:
            return
        stroke, self.stroke = self.stroke, []
        self.overlay.setPath(QPainterPath())
        self.c.brush(stroke, erase=self.erase)


class EraserTool(BrushTool):
    """The brush, removing the stroke's pixels from the active object."""

    name = "eraser"
    erase = True
