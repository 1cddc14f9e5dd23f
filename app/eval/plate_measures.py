"""How a clean plate's invented pixels compare with the true background under them.

PSNR alone favours a blur: where the truth is unknowable, the mean colour minimises the squared
error, which is why a diffusion fill scores well on it while showing a smooth blob. Beside it: SSIM
(luma, 11x11 Gaussian window, Wang et al. 2004) and the gradient magnitude (Sobel on luma), as the
mean absolute error against the truth's and as the ratio of the plate's mean to the truth's
(``sharpness``: 1 has the truth's amount of edges, a blur less).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from app.eval.metrics import masked_psnr


def luma(image: NDArray[Any]) -> NDArray[np.float32]:
    """The mean of the channels, float32."""
    return np.asarray(np.asarray(image, np.float32).mean(axis=2), np.float32)


def gradient_magnitude(image: NDArray[Any]) -> NDArray[np.float32]:
    """Sobel gradient magnitude of the luma."""
    y = luma(image)
    return np.asarray(np.hypot(cv2.Sobel(y, cv2.CV_32F, 1, 0), cv2.Sobel(y, cv2.CV_32F, 0, 1)), np.float32)


def ssim_map(a: NDArray[Any], b: NDArray[Any]) -> NDArray[np.float32]:
    """Per-pixel SSIM of two uint8 images' luma (constants for a 0..255 range)."""
    x, y = luma(a), luma(b)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(v: NDArray[np.float32]) -> NDArray[np.float32]:
        return np.asarray(cv2.GaussianBlur(v, (11, 11), 1.5), np.float32)

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    return np.asarray(((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2)), np.float32)


def invented_measures(plate: NDArray[Any], truth: NDArray[Any], invented: NDArray[Any]) -> dict[str, float | None]:
    """PSNR, SSIM, gradient error and sharpness of ``plate`` against ``truth`` over ``invented``
    (all None when it is empty)."""
    where = np.asarray(invented, bool)
    keys = ("psnr_db", "ssim", "grad_error", "sharpness")
    if not where.any():
        return dict.fromkeys(keys)
    g, gt = gradient_magnitude(plate)[where], gradient_magnitude(truth)[where]
    return {
        "psnr_db": masked_psnr(plate, truth, where),
        "ssim": float(ssim_map(plate, truth)[where].mean()),
        "grad_error": float(np.abs(g - gt).mean()),
        "sharpness": float(g.mean() / gt.mean()) if gt.mean() > 0 else None,
    }
