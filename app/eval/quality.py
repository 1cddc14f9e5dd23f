"""How well the weight-free quality signals agree with exact truth.

Cases are composed here so that the truth is exact: a procedural character (`app.demo.characters`)
over a painted background, placed partly outside the frame (truncation = share of its alpha outside),
partly behind a second character (occlusion = share of its alpha covered), and smeared by a motion
blur of known length. Agreement is Spearman's rank correlation between signal and truth (selection
ranks frames, so ranking is what matters) and, for ``truncated``, the share of cases classified right.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.stats import spearmanr

from app.demo.characters import Sprite, character_files, draw_character, load_character
from models.classical.faces import AnimeFaceDetector
from models.classical.quality import object_quality

W, H = 320, 240


@dataclass
class QualityCase:
    image: NDArray[np.uint8]
    labels: NDArray[np.uint8]
    truncation: float
    occlusion: float
    blur: int


def _background(rng: np.random.Generator) -> NDArray[np.float32]:
    bg = np.empty((H, W, 3), np.float32)
    bg[:] = rng.integers(90, 200, 3)
    for _ in range(4):
        x, y = int(rng.integers(0, W - 40)), int(rng.integers(0, H - 40))
        colour = tuple(float(c) for c in rng.integers(60, 230, 3))
        cv2.rectangle(bg, (x, y), (x + int(rng.integers(30, 120)), y + int(rng.integers(20, 90))), colour, -1)
    return bg


def _place(canvas: NDArray[np.float32], sprite: Sprite, x: int, y: int) -> NDArray[np.float32]:
    """Composite ``sprite`` with its top-left at (x, y) (may be outside); returns its alpha in frame."""
    h, w = sprite.alpha.shape
    alpha = np.zeros((H, W), np.float32)
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x1 <= x0 or y1 <= y0:
        return alpha
    sa = sprite.alpha[y0 - y : y1 - y, x0 - x : x1 - x]
    sp = sprite.premult[y0 - y : y1 - y, x0 - x : x1 - x]
    canvas[y0:y1, x0:x1] = sp + canvas[y0:y1, x0:x1] * (1.0 - sa[..., None])
    alpha[y0:y1, x0:x1] = sa
    return alpha


def make_case(seed: int) -> QualityCase:
    """One composed frame: character 1 (the judged one), maybe cut by the frame, maybe behind
    character 2, maybe motion-blurred."""
    rng = np.random.default_rng(seed)
    canvas = _background(rng)
    main = draw_character(int(rng.integers(0, 10_000)), int(rng.integers(150, 220)), "main")
    h, w = main.alpha.shape
    x = int(rng.integers(-w // 2, W - w // 2)) if rng.random() < 0.6 else int(rng.integers(0, max(1, W - w)))
    y = int(rng.integers(-h // 3, H - h + h // 3)) if rng.random() < 0.5 else max(0, (H - h) // 2)
    a1 = _place(canvas, main, x, y)
    total = float(main.alpha.sum())
    labels = np.zeros((H, W), np.uint8)
    labels[a1 >= 0.5] = 1
    covered = np.zeros((H, W), np.float32)
    if rng.random() < 0.5:
        other = draw_character(int(rng.integers(0, 10_000)), int(rng.integers(150, 220)), "other")
        oh, ow = other.alpha.shape
        ox = x + int(rng.integers(-ow, w))
        oy = y + int(rng.integers(-oh // 3, h // 2))
        covered = _place(canvas, other, ox, oy)
        labels[covered >= 0.5] = 2
    visible = a1 * (1.0 - covered)
    blur = int(rng.choice([1, 1, 3, 5, 9, 15]))
    image = np.clip(canvas, 0, 255).astype(np.uint8)
    if blur > 1:
        kernel = np.zeros((blur, blur), np.float32)
        kernel[blur // 2, :] = 1.0 / blur
        angle = float(rng.uniform(0, 180))
        rot = cv2.getRotationMatrix2D((blur / 2 - 0.5, blur / 2 - 0.5), angle, 1.0)
        kernel = np.asarray(cv2.warpAffine(kernel, rot, (blur, blur)), np.float32)
        kernel /= max(1e-6, float(kernel.sum()))
        image = np.asarray(cv2.filter2D(image, -1, kernel), np.uint8)
    return QualityCase(
        image=image, labels=labels,
        truncation=1.0 - float(a1.sum()) / total,
        occlusion=1.0 - float(visible.sum()) / max(1e-6, float(a1.sum())),
        blur=blur,
    )


def evaluate_signals(seeds: range | list[int]) -> dict[str, Any]:
    """Agreement of each signal with the truth over the cases made from ``seeds``."""
    rows: list[tuple[QualityCase, Any]] = []
    for seed in seeds:
        case = make_case(seed)
        q = object_quality(case.image, case.labels, 1)
        if q is not None:
            rows.append((case, q))

    def rho(a: list[float], b: list[float]) -> float:
        value = spearmanr(a, b).statistic
        return round(float(value), 3) if np.isfinite(value) else 0.0

    truth_cut = [c.truncation > 0.02 for c, _ in rows]
    return {
        "cases": len(rows),
        "truncation_rho": rho([c.truncation for c, _ in rows], [q.truncation for _, q in rows]),
        "truncated_accuracy": round(float(np.mean([t == q.truncated for t, (_, q) in zip(truth_cut, rows, strict=True)])), 3),
        "occlusion_rho": rho([c.occlusion for c, _ in rows], [q.occlusion for _, q in rows]),
        "blur_rho": rho([float(c.blur) for c, _ in rows], [q.blur_px for _, q in rows]),
    }


def evaluate_faces(folder: Path, heights: tuple[int, ...] = (120, 200, 320)) -> dict[str, Any]:
    """Face signal on real anime characters (RGBA files whose faces are all visible, front or three
    quarter), each composited at several heights over a plain background: the share of cut-outs
    with ``face`` true, and the measured face height against the sprite height."""
    detector = AnimeFaceDetector()
    if not detector.available:
        return {"available": False}
    found, total, ratios = 0, 0, []
    for path in character_files(folder):
        for height in heights:
            sprite = load_character(path, height)
            h, w = sprite.alpha.shape
            canvas = np.full((max(H, h + 20), max(W, w + 20), 3), 200.0, np.float32)
            a = sprite.alpha[..., None]
            canvas[10 : 10 + h, 10 : 10 + w] = sprite.premult + canvas[10 : 10 + h, 10 : 10 + w] * (1.0 - a)
            image = np.clip(canvas, 0, 255).astype(np.uint8)
            labels = np.zeros(image.shape[:2], np.uint8)
            labels[10 : 10 + h, 10 : 10 + w][sprite.alpha >= 0.5] = 1
            q = object_quality(image, labels, 1, detector.detect(image))
            total += 1
            if q is not None and q.face:
                found += 1
                ratios.append(q.face_size * image.shape[0] / h)
    return {"available": True, "cutouts": total, "face_found": round(found / max(1, total), 3),
            "face_to_sprite_height_median": round(float(np.median(ratios)), 3) if ratios else None}
