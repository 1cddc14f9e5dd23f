"""Export throughput for 1080p RGBA PNG cut-outs, and the PNG compression level to use.

Runs on a synthetic 1080p anime-like frame (flat cel colours, lines, a soft-edged character matte),
so it needs no data. Prints, per zlib level, the encode time and size of one RGBA frame, the level
chosen (the fastest level whose files are within 15% of the smallest measured) and why, then
frames/s of a full export (matte, decontamination, RGBA PNG, atomic write, sha256) with 1 and 2
worker threads (cv2's PNG encoder releases the GIL, so threads use both cores).

    .venv/bin/python benchmarks/export.py [--frames 12]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from app.export.manifest import atomic_write
from app.export.render import DEFAULT_PNG_LEVEL, cutout, decontaminate, encode_png, object_alpha

W, H = 1920, 1080


def synthetic(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A cel-like frame with codec grain, its clean plate, label map and soft matte."""
    rng = np.random.default_rng(seed)
    clean = np.zeros((H, W, 3), np.uint8)
    clean[: H // 2] = (120, 170, 230)
    clean[H // 2:] = (90, 140, 80)
    for _ in range(12):
        x, y = int(rng.integers(0, W)), int(rng.integers(0, H))
        cv2.rectangle(clean, (x, y), (x + 200, y + 120), tuple(int(c) for c in rng.integers(0, 255, 3)), -1)
    labels = np.zeros((H, W), np.uint8)
    cv2.ellipse(labels, (W // 2 + seed * 7, H // 2), (260, 480), 0, 0, 360, 1, -1)
    cv2.circle(labels, (W // 2 + seed * 7, 260), 170, 1, -1)
    alpha = cv2.GaussianBlur(labels.astype(np.float32) * 255, (7, 7), 0).astype(np.uint8)
    fg = np.zeros_like(clean)
    fg[:] = (240, 200, 180)
    cv2.ellipse(fg, (W // 2, H // 2 + 200), (260, 300), 0, 0, 360, (200, 60, 70), -1)
    cv2.ellipse(fg, (W // 2, 300), (180, 150), 0, 0, 360, (60, 40, 30), 12)
    a = alpha.astype(np.float32)[..., None] / 255
    # decoded video is never flat: a little grain, as lossy codecs leave on cels, keeps PNG sizes honest
    grain = rng.normal(0, 1.5, (H, W, 3)).astype(np.float32)
    image = np.clip(np.rint(a * fg + (1 - a) * clean + grain), 0, 255).astype(np.uint8)
    return image, clean, labels, alpha


def measure_levels(rgba: np.ndarray, levels: list[int], repeats: int = 3) -> list[tuple[int, float, int]]:
    rows = []
    for level in levels:
        best = min(_timed(lambda lv=level: encode_png(rgba, lv)) for _ in range(repeats))
        rows.append((level, best, len(encode_png(rgba, level))))
    return rows


def _timed(fn: object) -> float:
    t = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t


def export_rate(frames: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]], out: Path, level: int, workers: int) -> float:
    def job(i: int) -> None:
        image, clean, labels, alpha = frames[i % len(frames)]
        a = object_alpha(labels, alpha, 1)
        data = encode_png(cutout(decontaminate(image, a, clean), a, None), level)
        hashlib.sha256(data).hexdigest()
        atomic_write(out / f"w{workers}_{i:04d}.png", data)

    n = len(frames) * 2
    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(job, range(n)))
    return n / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=6)
    args = parser.parse_args()
    frames = [synthetic(s) for s in range(args.frames)]
    image, clean, labels, alpha = frames[0]
    a = object_alpha(labels, alpha, 1)
    rgba = cutout(decontaminate(image, a, clean), a, None)
    rows = measure_levels(rgba, [0, 1, 3, 6, 9])
    print(f"1080p RGBA cut-out PNG, {os.cpu_count()} CPUs")
    print("level  encode_ms  size_KiB")
    for level, secs, size in rows:
        print(f"{level:5d}  {secs * 1000:9.1f}  {size / 1024:8.1f}")
    smallest = min(size for _, _, size in rows)
    ok = [r for r in rows if r[2] <= smallest * 1.15]
    chosen = min(ok, key=lambda r: r[1])
    print(f"chosen level {chosen[0]}: fastest level within 15% of the smallest file "
          f"({chosen[2] / smallest:.2f}x the smallest, {chosen[1] * 1000:.0f} ms); "
          f"the exporter default is {DEFAULT_PNG_LEVEL}")
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            rate = export_rate(frames, Path(tmp), DEFAULT_PNG_LEVEL, workers)
            print(f"export at level {DEFAULT_PNG_LEVEL}, {workers} worker(s): {rate:.2f} frames/s")


if __name__ == "__main__":
    main()
