"""The timeline: a QPainter widget that paints only the visible frame range (`app.ui.timeline_paint`).

Rows, top to bottom: frame ruler, a marker row (corrected and propagated frames), thumbnails, one
status strip per pipeline stage, the propagation confidence curve, and a legend; shot boundaries cross
all rows; the playhead is on top. Hovering shows what is under the pointer (stage, frame, status,
backend, layer version). Click or drag to scrub, wheel to zoom around the cursor, Shift+wheel (or a
horizontal wheel) to pan.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QSize, Qt, Slot
from PySide6.QtGui import (
    QHelpEvent,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from app.pipeline.graph import ROLE_OF_STAGE, STAGE_OUTPUT, STAGES
from app.ui.controller import MainController
from app.ui.timeline_paint import (
    CURVE_H,
    LABEL_W,
    LEGEND_H,
    MARK_H,
    RULER_H,
    STAGE_LABELS,
    STATUS_TEXT,
    STRIP_H,
    THUMB_H,
    TimelinePaintMixin,
    frame_counter,
    hold_spans,
)

__all__ = ["Timeline", "frame_counter", "hold_spans"]  # the two helpers: callers import them from here


class Timeline(TimelinePaintMixin, QWidget):
    """Scrubbable overview of the project; all data comes from the controller."""

    def __init__(self, controller: MainController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.c = controller
        self.view_start = 0.0
        self.view_len = 1.0
        self.thumbs: dict[int, QImage] = {}
        self.setMinimumHeight(self.sizeHint().height())
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        controller.project_changed.connect(self._on_project)
        controller.frame_changed.connect(self._on_frame)
        controller.timeline_changed.connect(self.update)

    def sizeHint(self) -> QSize:
        return QSize(800, RULER_H + MARK_H + THUMB_H + STRIP_H * len(STAGES) + CURVE_H + LEGEND_H + 6)

    # -- view range ---------------------------------------------------------------------------------
    @Slot()
    def _on_project(self) -> None:
        self.thumbs.clear()
        self.view_start, self.view_len = 0.0, float(max(1, self.c.frame_count))
        if self.c.loader is not None:
            self.c.loader.thumbnails.connect(self._on_thumbs)
        self.update()

    @Slot(int)
    def _on_frame(self, frame: int) -> None:
        # Keep the playhead in view while playing or stepping.
        if frame < self.view_start or frame >= self.view_start + self.view_len:
            self.view_start = max(0.0, min(frame - self.view_len * 0.1, self.c.frame_count - self.view_len))
        self.update()

    @Slot(object)
    def _on_thumbs(self, thumbs: dict[int, QImage]) -> None:
        self.thumbs.update(thumbs)
        self.update()

    def _track_w(self) -> float:
        return max(1.0, self.width() - LABEL_W)

    def frame_at(self, x: float) -> int:
        f = self.view_start + (x - LABEL_W) / self._track_w() * self.view_len
        return max(0, min(self.c.frame_count - 1, math.floor(f)))

    def x_of(self, frame: float) -> float:
        return LABEL_W + (frame - self.view_start) / self.view_len * self._track_w()

    def zoom(self, factor: float, anchor_x: float | None = None) -> None:
        n = max(1, self.c.frame_count)
        anchor = self.view_start + ((anchor_x if anchor_x is not None else self.x_of(self.c.frame)) - LABEL_W) \
            / self._track_w() * self.view_len
        new_len = max(10.0, min(float(n), self.view_len / factor))
        ratio = (anchor - self.view_start) / self.view_len
        self.view_len = new_len
        self.pan_to(anchor - ratio * new_len)

    def pan_to(self, start: float) -> None:
        self.view_start = max(0.0, min(start, self.c.frame_count - self.view_len))
        self.update()

    # -- input --------------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and event.position().x() >= LABEL_W:
            self.c.set_frame(self.frame_at(event.position().x()))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.c.set_frame(self.frame_at(max(float(LABEL_W), event.position().x())))

    def wheelEvent(self, event: QWheelEvent) -> None:
        dy, dx = event.angleDelta().y(), event.angleDelta().x()
        if dx or event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.pan_to(self.view_start - (dx or dy) / 120 * self.view_len * 0.1)
        else:
            self.zoom(1.25 ** (dy / 120), event.position().x())

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self.c.toggle_play()
            return
        super().keyPressEvent(event)

    # -- hover --------------------------------------------------------------------------------------
    def row_at(self, y: float) -> str:
        """What the timeline shows at height ``y``: "ruler", "marks", "frames", a stage, "confidence", "legend"."""
        if y < RULER_H:
            return "ruler"
        if y < RULER_H + MARK_H:
            return "marks"
        y -= RULER_H + MARK_H
        if y < THUMB_H:
            return "frames"
        y -= THUMB_H
        if y < STRIP_H * len(STAGES):
            return STAGES[int(y // STRIP_H)]
        y -= STRIP_H * len(STAGES)
        return "confidence" if y < CURVE_H + 2 else "legend"

    def tooltip_at(self, x: float, y: float) -> str:
        """The hover text at (x, y): the frame, and what the row under the pointer says about it."""
        if self.c.project is None or x < LABEL_W:
            return ""
        frame = self.frame_at(x)
        row = self.row_at(y)
        project = self.c.project
        shots = project.shots
        shot = project.shot_of(frame)
        head = f"Frame {frame + 1} of {self.c.frame_count}, shot {shots.index(shot) + 1}"
        if row in STAGES:
            codes = self.c.stage_status().get(row)
            status = STATUS_TEXT.get(int(codes[frame]), "unknown") if codes is not None and frame < len(codes) else "unknown"
            role = ROLE_OF_STAGE[row]
            runner = self.c.runner
            backend = runner.settings.backend_name(role) if runner is not None else "classical"
            layer = STAGE_OUTPUT[row]
            version = f", {layer} version {project.layers.version(layer, frame)}" if layer else ""
            return f"{head}\nStage {row} ({STAGE_LABELS[row]}): {status}\nBackend {backend}{version}"
        if row == "marks" or row == "ruler":
            source = self.c.corrected.get(frame)
            what = {"user": "corrected by you", "accepted": "propagated (accepted)"}.get(source or "", "")
            return f"{head}\n{what}" if what else head
        if row == "confidence":
            value = self.c.confidence.get(frame)
            return f"{head}\nPropagation confidence " + ("not computed" if value is None or math.isnan(value)
                                                          else f"{100 * value:.0f}%")
        if row == "legend":
            return ""
        hold = project.hold_of(frame)
        if len(hold) > 1:
            return f"{head}\nDrawing held over frames {hold.start + 1}-{hold.stop} (computed once)"
        return head

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            assert isinstance(event, QHelpEvent)
            text = self.tooltip_at(event.pos().x(), event.pos().y())
            if text:
                QToolTip.showText(event.globalPos(), text, self)
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().event(event)
