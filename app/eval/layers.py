"""``celstudio eval layers``: every stage against the demo generator's exact ground truth.

Generates a fresh demo (a seed unlike the shipped demo's, so nothing is tuned on what is measured),
runs the pipeline with the chosen backends and reports stage-1 IoU, matting SAD/MSE, clean-plate PSNR
and effect-mask IoU.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from app.demo.groundtruth import load_ground_truth
from app.demo.project import GROUND_TRUTH_FILE, create_demo_project
from app.pipeline.runner import PipelineRunner, PipelineSettings

EFFECT_THRESHOLD = 0.25


def _iou(a: np.ndarray, b: np.ndarray) -> float | None:
    union = np.logical_or(a, b).sum()
    return None if union == 0 else float(np.logical_and(a, b).sum() / union)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return round(float(np.mean(kept)), 4) if kept else None


def eval_layers(
    *, seed: int = 101, width: int = 480, height: int = 270, shots: int = 2, frames_per_shot: int = 16,
    backends: dict[str, str] | None = None, workdir: Path | None = None,
) -> dict[str, Any]:
    """Run the pipeline on a generated video and compare every layer to the exact truth."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        root = Path(tmp) / "eval"
        project = create_demo_project(root, seed=seed, width=width, height=height, shots=shots, frames_per_shot=frames_per_shot)
        runner = PipelineRunner(project, PipelineSettings(backends=dict(backends or {}))).start()
        started = time.perf_counter()
        runner.submit_run(["segment", "propagate", "matte", "inpaint", "effects"]).wait()
        runner.wait_idle(3600)
        seconds = time.perf_counter() - started
        runner.stop()
        iou: list[float | None] = []
        effect_iou: list[float | None] = []
        sad: list[float | None] = []
        mse: list[float | None] = []
        psnr_hole: list[float | None] = []
        psnr_all: list[float | None] = []
        with load_ground_truth(root / GROUND_TRUTH_FILE) as truth:
            for i in range(project.frame_count):
                gt = truth.frame(i)
                masks = project.layers.read("masks", i)
                alpha = project.layers.read("alpha", i)
                clean = project.layers.read("clean", i)
                effects = project.layers.read("effects", i)
                if masks is not None:
                    iou.append(_iou(masks > 0, gt.labels > 0))
                if alpha is not None:
                    err = np.abs(alpha.astype(np.float32) / 255.0 - gt.alpha)
                    sad.append(float(err.sum() / 1000.0))
                    mse.append(float(np.mean(err**2)))
                if clean is not None:
                    hole = gt.alpha > 0.02
                    psnr_all.append(_psnr(clean, gt.clean))
                    if hole.any():
                        psnr_hole.append(_psnr(clean[hole], gt.clean[hole]))
                if effects is not None:
                    effect_iou.append(_iou(effects / 255.0 > EFFECT_THRESHOLD, gt.effects > EFFECT_THRESHOLD))
        frames = project.frame_count
        project.close()
    return {
        "frames": frames,
        "size": f"{width}x{height}",
        "backends": runner.settings.backends or "classical",
        "stage1_iou": _mean(iou),
        "matte_sad": _mean(sad),
        "matte_mse": _mean(mse),
        "clean_psnr_db": _mean(psnr_all),
        "clean_psnr_hole_db": _mean(psnr_hole),
        "effects_iou": _mean(effect_iou),
        "seconds": round(seconds, 1),
    }
