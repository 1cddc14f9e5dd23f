"""The timeline's painting: rows, status strips, thumbnails, holds, the confidence curve and the legend.

A mixin of `app.ui.timeline.Timeline` (which owns the view range and input); it paints only the
visible frame range, from what the controller holds.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPen, QPolygonF

from app.pipeline.graph import FAILED, FRESH, MISSING, RUNNING, STAGES, STALE

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget as _Base

    from app.ui.controller import MainController
else:
    _Base = object

RULER_H = 18
MARK_H = 10
THUMB_H = 40
STRIP_H = 13
CURVE_H = 34
LEGEND_H = 16
HOLD_H = 4
HOLD_COLOR = QColor(120, 200, 255, 200)
LABEL_W = 150
# Colour and words for each of the pipeline's status codes (app.pipeline.graph defines the codes).
STATUS_COLORS = {MISSING: QColor(48, 50, 56), FRESH: QColor(70, 170, 100), STALE: QColor(210, 160, 40),
                 RUNNING: QColor(70, 140, 230), FAILED: QColor(220, 60, 60)}
STATUS_TEXT = {MISSING: "not computed", FRESH: "up to date", STALE: "stale (inputs changed)", RUNNING: "running",
               FAILED: "failed"}
USER_MARK = QColor(80, 230, 120)
PROPAGATED_MARK = QColor(180, 180, 255)
CURVE_COLOR = QColor(120, 200, 255)
STAGE_LABELS = {"segment": "find objects", "propagate": "track", "matte": "cut out", "effects": "effects",
                "inpaint": "clean plate", "annotate": "tags"}



class TimelinePaintMixin(_Base):
    """`paintEvent` and its rows, top to bottom."""

    if TYPE_CHECKING:  # what the timeline provides
        c: MainController
        thumbs: dict[int, QImage]
        view_start: float
        view_len: float

        def _track_w(self) -> float: ...
        def x_of(self, frame: float) -> float: ...

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(30, 31, 35))
        if self.c.project is None:
            p.setPen(QColor(150, 150, 150))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Open a project or drop a video here")
            p.end()
            return
        n = self.c.frame_count
        first = max(0, int(self.view_start))
        last = min(n, math.ceil(self.view_start + self.view_len) + 1)
        y = 0
        self._paint_ruler(p, first, last)
        y += RULER_H + MARK_H
        self._paint_thumbs(p, first, last, y)
        self._paint_holds(p, first, last, y + THUMB_H - HOLD_H)
        y += THUMB_H
        p.setPen(QColor(170, 170, 175))
        small = p.font()
        small.setPointSizeF(max(6.0, small.pointSizeF() * 0.8))
        p.setFont(small)
        for stage in STAGES:
            p.drawText(QRectF(4, y, LABEL_W - 8, STRIP_H), Qt.AlignmentFlag.AlignVCenter,
                       f"{stage} ({STAGE_LABELS.get(stage, stage)})")
            self._paint_strip(p, self.c.stage_status().get(stage), first, last, y)
            y += STRIP_H
        self._paint_curve(p, first, last, y + 2)
        self._paint_legend(p, y + 2 + CURVE_H)
        self._paint_shots_and_marks(p, first, last)
        x = self.x_of(self.c.frame + 0.5)
        p.setPen(QPen(QColor(255, 255, 255), 2))
        p.drawLine(QPointF(x, 0), QPointF(x, self.height() - LEGEND_H))
        p.end()

    def _paint_ruler(self, p: QPainter, first: int, last: int) -> None:
        p.fillRect(QRectF(0, 0, self.width(), RULER_H), QColor(38, 40, 45))
        p.setPen(QColor(190, 190, 195))
        p.drawText(QRectF(4, 0, LABEL_W - 8, RULER_H), Qt.AlignmentFlag.AlignVCenter,
                   frame_counter(self.c.frame, self.c.frame_count))
        px_per_frame = self._track_w() / self.view_len
        step = 1
        while step * px_per_frame < 60:
            step *= 5 if str(step)[0] == "2" else 2
        p.setPen(QColor(120, 120, 128))
        for f in range((first // step) * step, last, step):
            x = self.x_of(f)
            if x >= LABEL_W:  # numbered from 1, like the counter
                p.drawLine(QPointF(x, RULER_H - 5), QPointF(x, RULER_H))
                p.drawText(QPointF(x + 2, RULER_H - 6), str(f + 1))

    def _paint_thumbs(self, p: QPainter, first: int, last: int, y: int) -> None:
        p.setPen(QColor(170, 170, 175))
        p.drawText(QRectF(4, y, LABEL_W - 8, THUMB_H), Qt.AlignmentFlag.AlignVCenter, "frames")
        loader = self.c.loader
        if loader is None or self.c.project is None:
            return
        tw, th = self.c.project.media.thumb_wh
        w = THUMB_H * tw / max(1, th)
        frames_per_thumb = max(1, math.ceil(w / (self._track_w() / self.view_len)))
        wanted = list(range((first // frames_per_thumb) * frames_per_thumb, last, frames_per_thumb))
        missing = [f for f in wanted if f not in self.thumbs]
        if missing:
            loader.request_thumbnails(missing)
        p.setClipRect(QRectF(LABEL_W, y, self._track_w(), THUMB_H))
        for f in wanted:
            img = self.thumbs.get(f)
            if img is not None:
                p.drawImage(QRectF(self.x_of(f), y, w, THUMB_H), img)
        p.setClipping(False)

    def _paint_holds(self, p: QPainter, first: int, last: int, y: float) -> None:
        """A bar under the thumbnails over every held drawing (one picture shown for several frames)."""
        project = self.c.project
        if project is None:
            return
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(HOLD_COLOR)
        for start, end in hold_spans(project.drawing_keys, first, last):
            x0, x1 = max(float(LABEL_W), self.x_of(start) + 1), self.x_of(end) - 1
            if x1 > x0:
                p.drawRect(QRectF(x0, y, x1 - x0, HOLD_H))

    def _paint_strip(self, p: QPainter, status: np.ndarray | None, first: int, last: int, y: int) -> None:
        if status is None or status.size == 0:
            p.fillRect(QRectF(LABEL_W, y + 1, self._track_w(), STRIP_H - 2), STATUS_COLORS[MISSING])
            return
        # Sample one status per pixel column, then draw runs: cost follows the width, not the frame count.
        cols = int(self._track_w())
        frames = np.clip((self.view_start + (np.arange(cols) + 0.5) / cols * self.view_len).astype(np.int64),
                         first, max(first, min(last, status.size) - 1))
        values = status[np.clip(frames, 0, status.size - 1)]
        edges = np.flatnonzero(np.diff(values)) + 1
        starts = np.concatenate(([0], edges))
        ends = np.concatenate((edges, [cols]))
        for s, e in zip(starts, ends, strict=True):
            color = STATUS_COLORS.get(int(values[s]), STATUS_COLORS[FAILED])
            p.fillRect(QRectF(LABEL_W + s, y + 1, e - s, STRIP_H - 2), color)

    def _paint_curve(self, p: QPainter, first: int, last: int, y: int) -> None:
        p.setPen(QColor(170, 170, 175))
        p.drawText(QRectF(4, y, LABEL_W - 8, CURVE_H), Qt.AlignmentFlag.AlignVCenter, "confidence")
        p.fillRect(QRectF(LABEL_W, y, self._track_w(), CURVE_H - 4), QColor(36, 37, 42))
        conf = self.c.confidence
        if not conf:
            return
        step = max(1, int(self.view_len / self._track_w()))
        line = QPolygonF()
        for f in range(first, last, step):
            v = conf.get(f)
            if v is not None and not math.isnan(v):
                line.append(QPointF(self.x_of(f + 0.5), y + (1.0 - v) * (CURVE_H - 6) + 1))
        p.setPen(QPen(QColor(120, 200, 255), 1.5))
        p.drawPolyline(line)

    def _paint_shots_and_marks(self, p: QPainter, first: int, last: int) -> None:
        assert self.c.project is not None
        for i, shot in enumerate(self.c.project.shots):
            if shot.end < first or shot.start > last:
                continue
            x = self.x_of(shot.start)
            if x >= LABEL_W and shot.start > 0:
                p.setPen(QPen(QColor(255, 200, 80), 2))
                p.drawLine(QPointF(x, 0), QPointF(x, self.height() - LEGEND_H))  # the legend stays clear
            label = QRectF(max(float(LABEL_W), x) + 3, RULER_H + MARK_H + 2, 44, 15)
            p.fillRect(label, QColor(20, 20, 24, 190))
            p.setPen(QColor(255, 210, 120))
            p.drawText(label, Qt.AlignmentFlag.AlignCenter, f"shot {i + 1}")
        # Markers have their own row under the ruler, so they never cover its numbers.
        p.setPen(Qt.PenStyle.NoPen)
        top = RULER_H + 1
        for f, source in self.c.corrected.items():
            if first <= f < last:
                x = self.x_of(f + 0.5)
                p.setBrush(USER_MARK if source == "user" else PROPAGATED_MARK)
                p.drawPolygon(QPolygonF([QPointF(x - 4, top), QPointF(x + 4, top), QPointF(x, top + MARK_H - 2)]))

    def _paint_legend(self, p: QPainter, y: float) -> None:
        """Swatches for every colour and mark the timeline uses."""
        x = 4.0
        metrics = p.fontMetrics()
        items: list[tuple[QColor, str, str]] = [(STATUS_COLORS[c], STATUS_TEXT[c], "box") for c in STATUS_TEXT]
        items += [(USER_MARK, "corrected by you", "mark"), (PROPAGATED_MARK, "propagated", "mark"),
                  (CURVE_COLOR, "confidence", "line"), (QColor(255, 200, 80), "shot cut", "cut"),
                  (HOLD_COLOR, "held drawing", "hold")]
        for color, text, kind in items:
            if kind == "box":
                p.fillRect(QRectF(x, y + 4, 10, 8), color)
            elif kind == "mark":
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(color)
                p.drawPolygon(QPolygonF([QPointF(x, y + 4), QPointF(x + 9, y + 4), QPointF(x + 4.5, y + 12)]))
            elif kind == "hold":
                p.fillRect(QRectF(x, y + 6, 10, HOLD_H), color)
            elif kind == "line":
                p.setPen(QPen(color, 1.5))
                p.drawLine(QPointF(x, y + 8), QPointF(x + 10, y + 8))
            else:
                p.setPen(QPen(color, 2))
                p.drawLine(QPointF(x + 5, y + 3), QPointF(x + 5, y + 13))
            p.setPen(QColor(170, 170, 175))
            p.drawText(QPointF(x + 13, y + 12), text)
            x += 13 + metrics.horizontalAdvance(text) + 12


def hold_spans(keys: np.ndarray, first: int, last: int) -> list[tuple[int, int]]:
    """``[start, end)`` of every drawing held for two frames or more that shows in ``[first, last)``."""
    if last <= first or len(keys) == 0:
        return []
    lo = int(keys[max(0, first)])  # a hold that began before the view
    hi = min(len(keys), last)
    idx = np.arange(lo, hi)
    starts = idx[keys[lo:hi] == idx]
    ends = np.append(starts[1:], hi)
    if hi < len(keys) and ends.size:  # the last span may run past the view
        tail = int(starts[-1])
        end = hi
        while end < len(keys) and keys[end] == tail:
            end += 1
        ends[-1] = end
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True) if b - a > 1]


def frame_counter(frame: int, count: int) -> str:
    """``frame 1 of 181``: one-based, with the total, so the last frame reads ``181 of 181``."""
    return f"frame {frame + 1} of {count}" if count else "no frames"
