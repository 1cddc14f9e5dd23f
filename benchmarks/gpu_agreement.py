"""Does the GPU path compute what the CPU path computes? Every deep backend, same random weights, both devices.

On CUDA the backends run under bf16/fp16 autocast; on the CPU they stay fp32. No test here can reach that
path (CI has no GPU), so this prints, per backend, how far the CUDA answer is from the CPU answer on one
drawn cartoon frame: mask IoU and label agreement, mean/max alpha difference, plate PSNR, embedding cosine,
and whether anything came back NaN. Random weights: this checks the arithmetic, not the quality.

    python benchmarks/gpu_agreement.py [--models sam_b,xmem,u2net,isnet,modnet,lama,m2f,clipseg,clip] [--size 480]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpu_models import SIZES, build  # a sibling script: builds each backend as the timing does

from models.base import Prompt


def cartoon_frame(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A flat-coloured figure with a dark outline over a soft gradient sky, and the figure's mask."""
    ys = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    image = (np.array([200, 170, 120], np.float32) * (1 - ys) + np.array([90, 140, 90], np.float32) * ys)
    image = np.broadcast_to(image, (height, width, 3)).astype(np.uint8).copy()
    centre, axes = (width // 2, height // 2), (width // 8, height // 3)
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1, -1)
    cv2.ellipse(image, centre, axes, 0, 0, 360, (230, 190, 170), -1)
    cv2.circle(image, (width // 2, height // 3), height // 10, (40, 40, 160), -1)  # hair
    cv2.ellipse(image, centre, axes, 0, 0, 360, (20, 20, 30), max(2, height // 160))  # line art
    return image, mask.astype(bool)


def answer(name: str, backend: Any, image: np.ndarray, mask: np.ndarray) -> Any:
    """What the backend gives for this frame, as numpy (or an embedding vector)."""
    if name.startswith("sam_"):
        prompt = Prompt(points=((image.shape[1] / 2, image.shape[0] / 2, True),))
        return backend.predict("agree", image, prompt, mask)
    if name == "xmem":
        frames = [image, np.roll(image, 4, axis=1), np.roll(image, 8, axis=1)]
        return np.stack([p.labels for p in backend.propagate(frames, {0: mask.astype(np.uint8)}, "forward")])
    if name in ("u2net", "isnet", "modnet"):
        return backend.matte(image, mask)
    if name == "lama":
        return backend.clean_plates([image], [mask])[0]
    if name == "m2f":
        return backend.segment_shot([image])[0].labels
    if name == "clipseg":
        return backend.separate(image, mask, None)
    annotation = backend.annotate(image, mask.astype(np.uint8), {1: "character"})
    return annotation.embedding


def compare(name: str, cpu: Any, gpu: Any) -> str:
    """One line of figures: how close the CUDA answer is to the CPU's."""
    a, b = np.asarray(cpu), np.asarray(gpu)
    if a.shape != b.shape:
        return f"shape differs: {a.shape} vs {b.shape}"
    finite = bool(np.isfinite(a.astype(np.float64)).all() and np.isfinite(b.astype(np.float64)).all())
    if a.dtype == np.bool_ or name in ("xmem", "m2f"):
        fg_a, fg_b = a > 0, b > 0
        union = (fg_a | fg_b).sum()
        iou = (fg_a & fg_b).sum() / union if union else 1.0
        return f"labels agree {np.mean(a == b):.4f}, foreground IoU {iou:.4f}, fg {fg_a.mean():.3f}/{fg_b.mean():.3f}"
    if name == "lama":
        mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
        return f"plate PSNR against the CPU {10 * np.log10(255**2 / max(mse, 1e-12)):.1f} dB, finite {finite}"
    if a.ndim == 1:
        cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
        return f"embedding cosine {cos:.5f}, finite {finite}"
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return f"mean |d| {diff.mean():.4f}, max |d| {diff.max():.4f}, range {a.min():.3f}..{a.max():.3f}, finite {finite}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="sam_b,xmem,u2net,isnet,modnet,lama,m2f,clipseg,clip")
    parser.add_argument("--size", type=int, default=480)
    parser.add_argument("--against", default="cuda", help="the device compared with the CPU ('cpu' checks the script)")
    args = parser.parse_args()
    if args.against.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("gpu_agreement needs CUDA: it compares the CUDA path with the CPU path")
    label = torch.cuda.get_device_name() if args.against.startswith("cuda") else args.against
    print(f"{label}; torch {torch.__version__}; random weights (seed 0), CPU fp32 vs {args.against}")
    image, mask = cartoon_frame(*SIZES[args.size])
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            answers = []
            for n, device in enumerate(("cpu", args.against)):
                folder = Path(tmp) / str(n)
                folder.mkdir(exist_ok=True)
                torch.manual_seed(0)  # both devices get the same random weights (initialised on the CPU)
                backend = build(name, device, folder)
                answers.append(answer(name, backend, image, mask))
                backend.release()
                del backend
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            print(f"{name:<8} {args.size}p  {compare(name, *answers)}", flush=True)


if __name__ == "__main__":
    main()
