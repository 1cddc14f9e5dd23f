"""Quality measures: DAVIS region J and boundary F, matte SAD/MSE, PSNR.

J and F follow the DAVIS benchmark definitions (``davis2017-evaluation``): J is the intersection over
union, F the harmonic mean of boundary precision and recall where a boundary pixel counts as matched
if the other boundary lies within ``bound_th`` of the image diagonal (a disc dilation).
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray


def region_j(pred: NDArray[Any], gt: NDArray[Any]) -> float:
    """Intersection over union of two masks; 1 when both are empty (DAVIS convention)."""
    p, g = pred.astype(bool), gt.astype(bool)
    union = np.count_nonzero(p | g)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(p & g) / union)


def seg2bmap(mask: NDArray[Any]) -> NDArray[np.bool_]:
    """One-pixel-wide boundary of ``mask``, as in the DAVIS toolkit's ``seg2bmap``."""
    seg = mask.astype(bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b  # type: ignore[no-any-return]


def _disc(radius: int) -> NDArray[np.uint8]:
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return (x * x + y * y <= radius * radius).astype(np.uint8)  # type: ignore[no-any-return]


def boundary_prf(pred: NDArray[Any], gt: NDArray[Any], bound_th: float = 0.008) -> tuple[float, float, float]:
    """Boundary precision, recall and F of ``pred`` against ``gt`` (DAVIS ``f_measure``)."""
    bound_pix = bound_th if bound_th >= 1 else math.ceil(bound_th * math.hypot(*pred.shape[:2]))
    fg_b = seg2bmap(pred)
    gt_b = seg2bmap(gt)
    disc = _disc(int(bound_pix))
    fg_dil = cv2.dilate(fg_b.astype(np.uint8), disc) > 0
    gt_dil = cv2.dilate(gt_b.astype(np.uint8), disc) > 0
    n_fg, n_gt = int(fg_b.sum()), int(gt_b.sum())
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1.0, 0.0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0.0, 1.0
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1.0, 1.0
    else:
        precision = float(np.count_nonzero(fg_b & gt_dil) / n_fg)
        recall = float(np.count_nonzero(gt_b & fg_dil) / n_gt)
    f = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return precision, recall, f


def boundary_f(pred: NDArray[Any], gt: NDArray[Any], bound_th: float = 0.008) -> float:
    """DAVIS boundary F-measure."""
    return boundary_prf(pred, gt, bound_th)[2]


def sad(alpha: NDArray[Any], gt: NDArray[Any]) -> float:
    """Sum of absolute differences of two mattes in [0, 1] (papers often report it divided by 1000)."""
    return float(np.abs(alpha.astype(np.float64) - gt.astype(np.float64)).sum())


def mse(a: NDArray[Any], b: NDArray[Any]) -> float:
    """Mean squared error (in the arrays' own units)."""
    d = a.astype(np.float64) - b.astype(np.float64)
    return float(np.mean(d * d))


def psnr(a: NDArray[Any], b: NDArray[Any], data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB; ``data_range`` defaults to 255 for uint8, else 1."""
    if data_range is None:
        data_range = 255.0 if a.dtype == np.uint8 else 1.0
    m = mse(a, b)
    return math.inf if m == 0 else float(10 * math.log10(data_range * data_range / m))
