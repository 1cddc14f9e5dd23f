"""The box tool (R): drag a box around an object; the click model fills what it finds in it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QCursor, QPen
from PySide6.QtWidgets import QGraphicsRectItem

from app.ui.tools.base import Interaction, crosshair, dragged

if TYPE_CHECKING:
    from app.ui.frame_view import FrameView


class BoxGesture:
    """A dashed rubber band from the press to the pointer; shared by the box tool and Shift+point."""

    def __init__(self, view: FrameView) -> None:
        self.view = view
        self.rubber = QGraphicsRectItem()
        self.rubber.setPen(QPen(QColor(255, 255, 255), 0, Qt.PenStyle.DashLine))
        self.rubber.setZValue(101)
        self.rubber.setVisible(False)
        view.scene().addItem(self.rubber)
        self.start: QPointF | None = None

    def press(self, pos: QPointF) -> None:
        self.start = pos

    def drag(self, pos: QPointF) -> None:
        if self.start is not None and dragged(self.start, pos):
            x0, y0 = self.view.scene_xy(self.start)
            x1, y1 = self.view.scene_xy(pos)
            self.rubber.setRect(QRectF(QPointF(x0, y0), QPointF(x1, y1)).normalized())
            self.rubber.setVisible(True)

    def release(self, pos: QPointF) -> None:
        start, self.start = self.start, None
        self.rubber.setVisible(False)
        if start is None:
            return
        if dragged(start, pos):
            x0, y0 = self.view.scene_xy(start)
            x1, y1 = self.view.scene_xy(pos)
            self.view.c.set_box(x0, y0, x1, y1)
        else:
            self.view.c.status.emit("Box tool: drag a box around the object (V for points).")


class BoxTool(Interaction):
    """Left-drag draws a box prompt; a drag under the threshold is a slip and changes nothing."""

    name = "box"

    def __init__(self, view: FrameView) -> None:
        super().__init__(view)
        self.gesture = BoxGesture(view)

    def activate(self, color: QColor) -> None:
        self.view.viewport().setCursor(QCursor(crosshair(color, box=True), 11, 11))

    def press(self, pos: QPointF, button: Qt.MouseButton, modifiers: Qt.KeyboardModifier) -> None:
        if button == Qt.MouseButton.LeftButton:
            self.gesture.press(pos)

    def drag(self, pos: QPointF) -> None:
        self.gesture.drag(pos)

    def release(self, pos: QPointF) -> None:
        self.gesture.release(pos)
