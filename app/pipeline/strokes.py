"""Brush strokes as pixels: the Qt-free half of the brush and eraser tools.

The frame view collects the pointer's path in scene (full-resolution) coordinates; this turns it into
the mask a round brush covers, so the same stroke paints the same pixels headless, in tests and in the app.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def rasterise_stroke(points: Sequence[tuple[float, float]], radius: float, shape: tuple[int, int]) -> np.ndarray:
    """The pixels a round brush of ``radius`` covers along ``points`` (``bool (H, W)``).

    Segments are drawn as thick lines and every point as a disk, so a stroke has round ends and
    joins, and a single point (a dab) is a disk.
    """
    r = max(1, round(radius))
    canvas = np.zeros(shape, np.uint8)
    if len(points) == 0:
        return canvas.astype(bool)
    pts = np.round(np.asarray(points, np.float64)).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(canvas, [pts], False, 1, thickness=max(1, 2 * r), lineType=cv2.LINE_8)
    for x, y in pts.reshape(-1, 2):
        cv2.circle(canvas, (int(x), int(y)), r, 1, -1)
    return canvas.astype(bool)
