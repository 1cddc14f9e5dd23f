"""Quality measures: DAVIS region J and boundary F, the standard matting set, flicker, PSNR.

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


# -- the standard matting set (Rhemann et al., CVPR 2009; alphamatting.com), flicker, plates, effects --
# Every matte is float in [0, 1]; SAD, gradient and connectivity are reported divided by 1000, as the
# matting literature does, so figures compare with papers at the same resolution.


def gradient_error(alpha: NDArray[Any], gt: NDArray[Any], sigma: float = 1.4) -> float:
    """Sum of squared differences of the gradient magnitudes (Gaussian derivatives), / 1000."""
    def mag(a: NDArray[Any]) -> NDArray[Any]:
        a = cv2.GaussianBlur(a.astype(np.float64), (0, 0), sigma)
        gx = cv2.Sobel(a, cv2.CV_64F, 1, 0, ksize=3) / 8.0
        gy = cv2.Sobel(a, cv2.CV_64F, 0, 1, ksize=3) / 8.0
        return np.sqrt(gx * gx + gy * gy)  # type: ignore[no-any-return]

    d = mag(alpha) - mag(gt)
    return float(np.sum(d * d) / 1000.0)


def _largest_common(a: NDArray[Any], g: NDArray[Any], threshold: float) -> NDArray[np.bool_]:
    both = ((a >= threshold) & (g >= threshold)).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(both, connectivity=4)
    if n <= 1:
        return np.zeros(a.shape, bool)
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return lab == k  # type: ignore[no-any-return]


def connectivity_error(alpha: NDArray[Any], gt: NDArray[Any], step: float = 0.1) -> float:
    """Connectivity error (Rhemann et al.): how much alpha is cut off from the matte's main body, / 1000.

    A pixel's level ``l`` is the last threshold at which it still belongs to the largest region that
    both mattes share; ``phi = 1 - d * [d >= 0.15]`` with ``d = value - l``, summed as ``|phi_a - phi_g|``.
    """
    a = alpha.astype(np.float64)
    g = gt.astype(np.float64)
    level = np.ones(a.shape, np.float64)
    for t in np.arange(step, 1.0 + 1e-9, step):
        lost = ~_largest_common(a, g, float(t)) & (level == 1.0)
        level[lost] = t - step
    da = a - level
    dg = g - level
    phi_a = 1.0 - da * (da >= 0.15)
    phi_g = 1.0 - dg * (dg >= 0.15)
    return float(np.sum(np.abs(phi_a - phi_g)) / 1000.0)


def dtssd(alphas: list[NDArray[Any]], gts: list[NDArray[Any]]) -> float | None:
    """Temporal flicker (Erofeev et al., 2015): RMS over pixels of the difference between the
    predicted and the true frame-to-frame alpha change, averaged over frame pairs; x100 for reading.

    Zero when the matte changes exactly as the truth does; a matte that flickers on a still drawing
    scores high. ``None`` with fewer than two frames.
    """
    if len(alphas) < 2:
        return None
    vals = []
    for k in range(1, len(alphas)):
        da = alphas[k].astype(np.float64) - alphas[k - 1].astype(np.float64)
        dg = gts[k].astype(np.float64) - gts[k - 1].astype(np.float64)
        vals.append(math.sqrt(float(np.mean((da - dg) ** 2))))
    return 100.0 * float(np.mean(vals))


def matte_regions(gt: NDArray[Any], band: int = 3, hair_top: float = 0.4) -> dict[str, NDArray[np.bool_]]:
    """Where matte errors are counted separately, from the true matte alone.

    ``outline``: pixels within ``band`` px of the true silhouette (the 0.5 contour), where the line
    art's outer edge is; ``interior``: the silhouette further inside than that (eyes, teeth, the
    fill); ``hair``: the outline band in the top ``hair_top`` of each character's height - the shared
    characters are busts whose upper silhouette is hair, and the procedural ones have their hair on
    top too. Soft strands reaching further out than the band are added to ``hair`` and ``outline``.
    """
    g = gt.astype(np.float32)
    inside = (g >= 0.5).astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    edge = (cv2.dilate(inside, k) > 0) & ~(cv2.erode(inside, k) > 0)
    soft = (g > 0.01) & (g < 0.99)
    outline = edge | (soft & ~(cv2.erode(inside, k) > 0))
    interior = (inside > 0) & ~outline
    hair = np.zeros(g.shape, bool)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(cv2.dilate(inside, k), connectivity=8)
    for i in range(1, n):
        top, height = int(stats[i, cv2.CC_STAT_TOP]), int(stats[i, cv2.CC_STAT_HEIGHT])
        rows = np.zeros(g.shape, bool)
        rows[top : top + max(1, round(hair_top * height))] = True
        hair |= (lab == i) & rows & outline
    return {"outline": outline, "interior": interior, "hair": hair}


def matte_errors(alpha: NDArray[Any], gt: NDArray[Any], *, regions: bool = True) -> dict[str, float]:
    """The standard matting set for one frame: SAD, MSE, gradient and connectivity errors, and SAD
    (/1000) and MSE restricted to each of `matte_regions`."""
    a = np.clip(alpha.astype(np.float64), 0.0, 1.0)
    g = gt.astype(np.float64)
    out = {
        "sad": sad(a, g) / 1000.0,
        "mse": mse(a, g),
        "grad": gradient_error(a, g),
        "conn": connectivity_error(a, g),
    }
    if regions:
        for name, where in matte_regions(g).items():
            out[f"sad_{name}"] = float(np.abs(a - g)[where].sum() / 1000.0)
            out[f"mse_{name}"] = float(np.mean((a - g)[where] ** 2)) if where.any() else 0.0
    return out


def masked_psnr(a: NDArray[Any], b: NDArray[Any], where: NDArray[Any]) -> float | None:
    """PSNR of two uint8 images over the pixels ``where`` (None when it is empty)."""
    w = where.astype(bool)
    if not w.any():
        return None
    return psnr(np.asarray(a)[w], np.asarray(b)[w], 255.0)


def mask_agreement(pred: NDArray[Any], gt: NDArray[Any]) -> dict[str, float]:
    """Precision, recall and IoU of a predicted mask (1 each when both are empty)."""
    p, g = pred.astype(bool), gt.astype(bool)
    tp = float(np.count_nonzero(p & g))
    n_p, n_g = float(np.count_nonzero(p)), float(np.count_nonzero(g))
    return {
        "precision": tp / n_p if n_p else 1.0,
        "recall": tp / n_g if n_g else 1.0,
        "iou": region_j(p, g),
    }


def effect_iou(pred: NDArray[Any], gt: NDArray[Any], threshold: float = 0.25) -> float | None:
    """IoU of the effect masks (strength above ``threshold``); None when neither has an effect."""
    p, g = pred >= threshold, gt >= threshold
    if not (p.any() or g.any()):
        return None
    return region_j(p, g)
