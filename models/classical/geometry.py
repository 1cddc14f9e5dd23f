"""Shared geometry of the camera and plate modules: the modelling scale and ``3x3`` transforms.

Transforms are ``3x3`` float64 matrices in full-resolution pixel coordinates that map a frame's pixels
into *plate* coordinates: a canvas that holds every frame of the shot, shifted so that all frames
land at non-negative coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image

MODEL_SIDE = 480
Matrix = NDArray[np.float64]
AnyArray = NDArray[Any]  # images, masks and counts alike (cv2 stubs are loose about dtypes)

def model_scale(shape: tuple[int, ...], long_side: int = MODEL_SIDE) -> float:
    """The factor that brings a frame of ``shape`` down to ``long_side`` (never up)."""
    return min(1.0, long_side / float(max(shape[0], shape[1])))


def scale_matrix(s: float) -> Matrix:
    """Pixel-centre-correct map from full-resolution to ``s``-scaled coordinates (as cv2.resize)."""
    c = 0.5 * s - 0.5
    return np.array([[s, 0.0, c], [0.0, s, c], [0.0, 0.0, 1.0]])


def rescale_transform(t: Matrix, s: float) -> Matrix:
    """Express a full-resolution transform ``t`` in ``s``-scaled coordinates."""
    m = scale_matrix(s)
    return np.asarray(m @ t @ np.linalg.inv(m))


def from_origin(transforms: Sequence[Matrix], shape: tuple[int, ...]) -> list[Matrix]:
    """``transforms`` (frame to plate) shifted so that every frame lands at non-negative plate
    coordinates: a plate canvas starts at the origin."""
    h, w = shape[:2]
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], dtype=np.float64).T
    pts = np.concatenate([(np.asarray(t, np.float64) @ corners)[:2] for t in transforms], axis=1)
    off = np.floor(pts.min(axis=1) + 1e-6)  # tolerate -1e-12 from the matrix products
    shift = np.array([[1.0, 0.0, -off[0]], [0.0, 1.0, -off[1]], [0.0, 0.0, 1.0]])
    return [shift @ np.asarray(t, np.float64) for t in transforms]


def resize(image: AnyArray, s: float, interp: int = cv2.INTER_AREA) -> AnyArray:
    """Resize by factor ``s`` (identity when ``s == 1``)."""
    if s == 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return np.asarray(cv2.resize(image, size, interpolation=interp))


def _grey(frame: Image, s: float) -> NDArray[np.uint8]:
    return np.asarray(cv2.cvtColor(resize(frame, s), cv2.COLOR_RGB2GRAY), dtype=np.uint8)

