"""The point tool (V): left click adds a positive point, right click a negative one; Shift+drag a box."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, Qt

from app.ui.tools.base import Interaction
from app.ui.tools.box import BoxGesture

if TYPE_CHECKING:
    from app.ui.frame_view import FrameView


class PointTool(Interaction):
    """Wherever the pen goes between press and release, a point is where it was pressed: a shaky
    hand never makes a box. Only Shift (or the box tool) draws one."""

    name = "click"

    def __init__(self, view: FrameView) -> None:
        super().__init__(view)
        self.box = BoxGesture(view)
        self._press: tuple[QPointF, Qt.MouseButton] | None = None
        self._boxing = False

    def press(self, pos: QPointF, button: Qt.MouseButton, modifiers: Qt.KeyboardModifier) -> None:
        self._boxing = button == Qt.MouseButton.LeftButton and bool(modifiers & Qt.KeyboardModifier.ShiftModifier)
        if self._boxing:
            self.box.press(pos)
        elif button in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            self._press = (pos, button)

    def drag(self, pos: QPointF) -> None:
        if self._boxing:
            self.box.drag(pos)

    def release(self, pos: QPointF) -> None:
        if self._boxing:
            self._boxing = False
            self.box.release(pos)
            return
        if self._press is None:
            return
        (start, button), self._press = self._press, None
        x, y = self.view.scene_xy(start)
        self.c.click(x, y, positive=button == Qt.MouseButton.LeftButton)
