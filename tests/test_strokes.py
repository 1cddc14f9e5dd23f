"""Brush strokes become pixels without Qt (`app.pipeline.strokes`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from app.pipeline.strokes import rasterise_stroke


def test_stroke_covers_a_round_brush_along_its_path() -> None:
    stroke = rasterise_stroke([(20, 20), (40, 20)], 5, (60, 80))
    assert stroke.dtype == bool and stroke.shape == (60, 80)
    assert stroke[20, 30] and stroke[24, 20] and stroke[20, 15] and stroke[20, 45]  # path, round ends
    assert not stroke[27, 30] and not stroke[20, 47] and not stroke[20, 12]
    # A round brush: about a rectangle of 2r by the length plus a disk of radius r.
    assert abs(int(stroke.sum()) - (20 * 11 + np.pi * 5**2)) < 40


def test_a_dab_is_a_disk_and_no_points_paint_nothing() -> None:
    dab = rasterise_stroke([(10.4, 10.6)], 3, (30, 30))
    yy, xx = np.nonzero(dab)
    assert (yy.min(), yy.max(), xx.min(), xx.max()) == (8, 14, 7, 13)
    assert not rasterise_stroke([], 3, (30, 30)).any()


def test_strokes_run_headless() -> None:
    """The brush's pixels come from the pipeline side: importing it loads no Qt."""
    code = "import sys, app.pipeline.strokes; sys.exit('PySide6' in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
