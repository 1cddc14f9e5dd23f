"""Camera motion within a shot and the background plate built from it, in one import path.

The code lives in `models.classical.geometry` (scales, transforms), `models.classical.camera`
(`estimate_camera`, `refine_camera`) and `models.classical.plate` (`build_plate`, `warp_to_frame`);
the backends import it from here.
"""

from __future__ import annotations

from models.classical.camera import BORDER_GAIN, REFINE_SIDE, estimate_camera, refine_camera
from models.classical.geometry import (
    MODEL_SIDE,
    AnyArray,
    Matrix,
    model_scale,
    rescale_transform,
    resize,
    scale_matrix,
)
from models.classical.plate import build_plate, masked_median, plate_size, sample_indices, warp_to_frame

__all__ = [
    "BORDER_GAIN", "MODEL_SIDE", "REFINE_SIDE", "AnyArray", "Matrix", "build_plate", "estimate_camera",
    "masked_median", "model_scale", "plate_size", "refine_camera", "rescale_transform", "resize",
    "sample_indices", "scale_matrix", "warp_to_frame",
]
