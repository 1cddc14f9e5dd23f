"""The frame view's tools: one small interaction class per tool (as Cutie's gui does).

The view owns zoom, pan and the layers; the active tool gets the mouse gestures (in view
coordinates, mapped to scene pixels with ``view.scene_xy``) and turns them into controller actions.
A new tool is one module: subclass `Interaction` and set its ``name``; then list it in
`app.ui.tools.TOOLS`, add the name to the controller's `Tool` and give it an action in `app.ui.menus`
(a test checks that `TOOLS` and `Tool` agree).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QCursor, QImage, QPainter, QPen, QPixmap

if TYPE_CHECKING:
    from app.ui.controller import MainController
    from app.ui.frame_view import FrameView

# A drag must move this far (manhattan, view px) before it counts; a tablet pen wobbles 4-6 px.
DRAG_THRESHOLD = 12


class Interaction:
    """One tool of the frame view. Subclasses override the gestures they use; the default does nothing."""

    name: ClassVar[str]

    def __init__(self, view: FrameView) -> None:
        self.view = view

    @property
    def c(self) -> MainController:
        return self.view.c

    def activate(self, color: QColor) -> None:
        """The tool was picked (or the active object's ``color`` changed): set the cursor."""
        self.view.viewport().setCursor(QCursor(crosshair(color), 11, 11))

    def deactivate(self) -> None:
        """Another tool was picked: hide what this one draws."""

    def press(self, pos: QPointF, button: Qt.MouseButton, modifiers: Qt.KeyboardModifier) -> None:
        """A button went down at ``pos`` (view coordinates)."""

    def hover(self, pos: QPointF) -> None:
        """The pointer moved, pressed or not (cursors that follow it)."""

    def drag(self, pos: QPointF) -> None:
        """The pointer moved with a button held since `press`."""

    def release(self, pos: QPointF) -> None:
        """The button of the last `press` went up at ``pos``."""

    def leave(self) -> None:
        """The pointer left the view."""


def dragged(start: QPointF, pos: QPointF) -> bool:
    """Whether the pointer moved far enough from ``start`` to be a drag rather than a shaky click."""
    return (pos - start).manhattanLength() > DRAG_THRESHOLD


def crosshair(color: QColor, box: bool = False) -> QPixmap:
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
