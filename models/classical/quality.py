"""Is this cut-out a good training image? Weight-free quality signals per object and frame.

Each signal is a plain number from the frame, its label map and one object id, so the pipeline can
store them with the annotations and export can select by them:

- ``blur_px``: how far the object's edges are smeared, in pixels, along the worst direction.
  Cel art has crisp line art (a step over ~1 px); defocus smears every direction and motion blur one
  direction, so the edge width is measured in four directions and the widest is kept. ``sharpness``
  maps it to (0, 1] (1 = crisp).
- ``truncation``: share of the object's outline that runs along the frame edge (the cut made by
  the frame). It ranks how much of the character is cut off; ``truncated`` says whether it is cut
  at all.
- ``occlusion``: share of the object's outline shared with another object (something in front of
  or behind it cuts its shape); effects count as well.
- ``face`` / ``face_size``: an anime face inside the object and its height as a share of the frame
  height (the anime face cascade; no face found when the cascade is not installed).
- ``aesthetic``: a weight-free proxy (documented in `aesthetic_proxy`): crisp, whole, unoccluded,
  large enough, colourful. A deep head on CLIP embeddings replaces it when installed
  (`models.aesthetic`); every score says which produced it.
- ``view``: a small shape-and-layout vector, so selection can spread over poses and views.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Labels
from models.classical.tracks import label_ids

AESTHETIC_PROXY = "weight-free proxy"
_MIN_PIXELS = 64  # objects smaller than this get no signals (nothing to judge)


@dataclass
class ObjectQuality:
    """Quality signals of one object in one frame (see the module docstring)."""

    area: float
    blur_px: float
    sharpness: float
    truncation: float
    truncated: bool
    occlusion: float
    face: bool
    face_size: float
    aesthetic: float
    aesthetic_source: str = AESTHETIC_PROXY
    view: list[float] = field(default_factory=list)

    def to_record(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def edge_width(grey: NDArray[np.uint8], region: NDArray[np.bool_]) -> float:
    """Width in pixels of the object's edges along the direction where they are widest.

    For a step of contrast C smeared over L pixels the derivative across it peaks at about C / L, so
    L ~ C / peak. C is the spread of grey levels in the region; the peak is a high percentile of the
    directional derivative (a percentile, not the maximum, so a few noisy pixels do not decide)."""
    if region.sum() < _MIN_PIXELS:
        return 0.0
    g = grey.astype(np.float32)
    values = g[region]
    contrast = float(np.percentile(values, 98) - np.percentile(values, 2))
    if contrast < 10:
        return 0.0  # a flat region has no edges to judge
    widths = []
    for dx, dy in ((1, 0), (0, 1), (1, 1), (1, -1)):
        shifted = np.roll(np.roll(g, -dy, axis=0), -dx, axis=1)
        step = float(np.hypot(dx, dy))
        deriv = np.abs(shifted - g)[region] / step
        peak = float(np.percentile(deriv, 99.5))
        widths.append(contrast / max(peak, 1e-3))
    return float(max(widths))


def _outline(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    eroded = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return mask & ~eroded.astype(bool)


def truncation(mask: NDArray[np.bool_], edges: tuple[bool, bool, bool, bool] = (True, True, True, True)) -> float:
    """Share of the object's outline that lies on the frame edge. ``edges`` (top, bottom, left,
    right): which sides of ``mask`` are the frame's (all of them unless it is a crop)."""
    outline = _outline(mask)
    total = int(outline.sum())
    if total == 0:
        return 0.0
    border = np.zeros_like(mask)
    top, bottom, left, right = edges
    border[0, :] |= top
    border[-1, :] |= bottom
    border[:, 0] |= left
    border[:, -1] |= right
    return float((outline & border).sum()) / total


def occlusion(labels: Labels, object_id: int, effects: NDArray[np.uint8] | None = None) -> float:
    """Share of the object's outline (off the frame edge) that touches another object or an effect."""
    mask = labels == object_id
    outline = _outline(mask)
    outline[0, :] = outline[-1, :] = outline[:, 0] = outline[:, -1] = False
    total = int(outline.sum())
    if total == 0:
        return 0.0
    others = (labels != object_id) & (labels != 0)
    if effects is not None:
        others |= (effects >= 64) & ~mask
    near_other = cv2.dilate(others.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    return float((outline & near_other).sum()) / total


def view_vector(mask: NDArray[np.bool_], image: Image) -> list[float]:
    """Pose/view descriptor: the mask's shape on a 6x6 grid of its bounding box (aspect kept as one
    number) and the mean colour of its top, middle and bottom thirds (what faces the camera)."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return []
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    crop = mask[y0:y1, x0:x1].astype(np.float32)
    grid = cv2.resize(crop, (6, 6), interpolation=cv2.INTER_AREA).ravel()
    aspect = float(np.log((y1 - y0) / max(1, x1 - x0)))
    thirds: list[float] = []
    for part in np.array_split(np.arange(y0, y1), 3):
        sub = mask[part[0] : part[-1] + 1] if len(part) else mask[:0]
        pix = image[part[0] : part[-1] + 1][sub] if len(part) else np.zeros((0, 3), np.uint8)
        thirds.extend((pix.mean(axis=0) / 255.0).tolist() if len(pix) else [0.0, 0.0, 0.0])
    return [round(float(v), 4) for v in [*grid.tolist(), aspect, *thirds]]


def aesthetic_proxy(q: ObjectQuality, colourfulness: float) -> float:
    """The weight-free stand-in for an aesthetic score, in [0, 1].

    A weighted mean of what makes a cut-out usable for training when no aesthetic model is installed:
    crisp (0.3), not cut by the frame (0.2), not hidden (0.2), a visible face (0.15), colourful
    (0.15, Hasler-Suesstrunk colourfulness / 100). It ranks frames within one show; it is not a
    judgement of the drawing."""
    face = 1.0 if q.face else 0.0
    score = (0.3 * q.sharpness + 0.2 * (1.0 - min(1.0, 4 * q.truncation)) + 0.2 * (1.0 - q.occlusion)
             + 0.15 * face + 0.15 * min(1.0, colourfulness / 100.0))
    return float(np.clip(score, 0.0, 1.0))


def colourfulness(pixels: NDArray[np.uint8]) -> float:
    """Hasler and Suesstrunk's colourfulness of ``(N, 3)`` RGB pixels (0 = grey; ~100 = very colourful)."""
    if len(pixels) == 0:
        return 0.0
    p = pixels.astype(np.float32)
    rg = p[:, 0] - p[:, 1]
    yb = 0.5 * (p[:, 0] + p[:, 1]) - p[:, 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


Face = tuple[int, int, int, int]


def object_quality(
    image: Image, labels: Labels, object_id: int, faces: list[Face] | None = None,
    effects: NDArray[np.uint8] | None = None,
) -> ObjectQuality | None:
    """Every signal for one object; ``None`` when the object has too few pixels to judge.

    ``faces`` are face boxes ``(x, y, w, h)`` found in the whole frame (the caller detects once per
    frame); a face belongs to the object when most of its box lies on the object's pixels."""
    whole = labels == object_id
    n = int(np.count_nonzero(whole))
    if n < _MIN_PIXELS:
        return None
    # Every signal reads the object and at most 3 pixels around it (the 5x5 ring, its outline's
    # neighbours): computed on that box, not the frame - the same numbers. Where the box would reach
    # past a frame edge it spans the whole axis, so the edge-width shifts wrap round as before.
    x, y, w, h = cv2.boundingRect(whole.view(np.uint8))
    rows_n, cols_n = labels.shape
    rows = slice(y - 3, y + h + 3) if y >= 3 and y + h + 3 <= rows_n else slice(0, rows_n)
    cols = slice(x - 3, x + w + 3) if x >= 3 and x + w + 3 <= cols_n else slice(0, cols_n)
    box = (rows, cols)
    mask, crop, sub = whole[box], image[box], labels[box]
    grey = np.asarray(cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY), np.uint8)
    # Judge edges on the object and a thin ring around it: its outline is where blur shows most.
    region = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    blur = edge_width(grey, region)
    face_size = 0.0
    for fx, fy, fw, fh in faces or []:
        if whole[fy : fy + fh, fx : fx + fw].mean() >= 0.5:
            face_size = max(face_size, fh / labels.shape[0])
    edges = (rows.start == 0, rows.stop == rows_n, cols.start == 0, cols.stop == cols_n)
    q = ObjectQuality(
        area=n / labels.size,
        blur_px=round(blur, 3),
        sharpness=float(min(1.0, 1.5 / max(blur, 1e-3))) if blur > 0 else 1.0,
        truncation=truncation(mask, edges),
        truncated=False,
        occlusion=occlusion(sub, object_id, None if effects is None else effects[box]),
        face=face_size > 0,
        face_size=face_size,
        aesthetic=0.0,
        view=view_vector(mask, crop),
    )
    q.truncated = q.truncation > 0.02
    q.aesthetic = aesthetic_proxy(q, colourfulness(crop[mask]))
    return q


def frame_quality(
    image: Image, labels: Labels, kinds: dict[int, str], faces: list[Face] | None = None,
    effects: NDArray[np.uint8] | None = None,
) -> dict[int, dict[str, Any]]:
    """Signals of every character and prop in one frame, as records keyed by object id."""
    out: dict[int, dict[str, Any]] = {}
    for oid in label_ids(labels):  # the ids present, by counting (`np.unique` sorts the frame)
        if kinds.get(oid, "character") not in ("character", "prop"):
            continue
        q = object_quality(image, labels, oid, faces, effects)
        if q is not None:
            out[oid] = q.to_record()
    return out
