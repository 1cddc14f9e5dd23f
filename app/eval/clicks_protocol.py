"""The standard simulated-click protocol for interactive segmentation (NoC@85 / NoC@90).

Each next click goes to the interior point farthest from the boundary of the largest error region
(distance transform, the image border counting as boundary): positive when that region is missed
foreground, negative when it is extra. At most 20 clicks; NoC@t is the number of clicks after which
IoU first reaches t, or 20 when it never does. The clicker receives every click so far and, as the
prior, its own previous answer (no prior before the first click).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from app.eval.davis import load_davis
from app.eval.metrics import region_j
from models.base import ClickSegmenter, Image, Prompt

MAX_CLICKS = 20


def next_click(pred: NDArray[np.bool_], gt: NDArray[np.bool_]) -> tuple[float, float, bool] | None:
    """The next simulated click ``(x, y, positive)``, or ``None`` when ``pred`` equals ``gt``."""
    missed = gt & ~pred
    extra = pred & ~gt
    best: tuple[int, NDArray[np.bool_], bool] | None = None
    for err, positive in ((missed, True), (extra, False)):
        if not err.any():
            continue
        _, comp, stats, _ = cv2.connectedComponentsWithStats(err.astype(np.uint8), connectivity=8)
        k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        area = int(stats[k, cv2.CC_STAT_AREA])
        if best is None or area > best[0]:
            best = (area, comp == k, positive)
    if best is None:
        return None
    _, region, positive = best
    padded = np.pad(region, 1).astype(np.uint8)  # the border of the image is a boundary too
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return float(x), float(y), positive


def simulate(clicker: ClickSegmenter, image_id: str, image: Image, gt: NDArray[np.bool_],
             max_clicks: int = MAX_CLICKS) -> list[float]:
    """IoU after each simulated click (stops early at a perfect mask)."""
    pred = np.zeros(gt.shape, bool)
    points: list[tuple[float, float, bool]] = []
    ious: list[float] = []
    for _ in range(max_clicks):
        click = next_click(pred, gt)
        if click is None:
            break
        points.append(click)
        prior = pred if pred.any() else None
        pred = clicker.predict(image_id, image, Prompt(points=tuple(points)), prior).astype(bool)
        ious.append(region_j(pred, gt))
    return ious


def noc(ious: Sequence[float], threshold: float, max_clicks: int = MAX_CLICKS) -> int:
    """Clicks needed to reach ``threshold`` IoU, ``max_clicks`` when never reached."""
    for i, v in enumerate(ious):
        if v >= threshold:
            return i + 1
    return max_clicks


def eval_clicks(root: str | Path, clicker: ClickSegmenter,
                sequences: Sequence[str] | None = None) -> dict[str, Any]:
    """NoC@85 / NoC@90 over the first annotated frame of each object of each sequence."""
    per_object: dict[str, dict[str, float]] = {}
    for seq in load_davis(root, sequences):
        first = min(seq.annotations)
        image = seq.frames[first]
        labels = seq.labels(first, image.shape)
        for k in (int(v) for v in np.unique(labels) if v != 0):
            ious = simulate(clicker, f"{seq.name}/{first}", image, labels == k)
            per_object[f"{seq.name}/{k}"] = {
                "NoC@85": float(noc(ious, 0.85)),
                "NoC@90": float(noc(ious, 0.90)),
                "IoU@1": ious[0] if ious else 0.0,
                "IoU@5": ious[min(4, len(ious) - 1)] if ious else 0.0,
                "clicks": float(len(ious)),
            }
    if not per_object:
        return {"objects": {}, "NoC@85": float(MAX_CLICKS), "NoC@90": float(MAX_CLICKS)}
    return {
        "objects": per_object,
        "NoC@85": float(np.mean([v["NoC@85"] for v in per_object.values()])),
        "NoC@90": float(np.mean([v["NoC@90"] for v in per_object.values()])),
    }
