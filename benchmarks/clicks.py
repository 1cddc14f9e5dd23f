"""Click-correction benchmark: NoC@85 / NoC@90 on real video and on anime composites, and speed.

- ``vos``: the standard protocol (`app.eval.clicks_protocol.eval_clicks`) on ../shared/data/vos.
- ``anime``: each anime character of ../shared/data/anime/characters (exact alpha) composited over a
  frame of a real anime clip (left panel of the side-by-side clips), ground truth = alpha > 0.5.
- ``speed``: per-click wall and CPU time on a 1080p frame of ../shared/data/video/demo-1080p,
  cold (first click on an image) and warm, p50 / p95.

Run: ``.venv/bin/python benchmarks/clicks.py [vos] [anime] [speed]`` (all three by default).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.eval.clicks_protocol import eval_clicks, noc, simulate  # noqa: E402
from models.base import Prompt  # noqa: E402
from models.classical.clicks import RegionClicker  # noqa: E402

SHARED = ROOT.parent / "shared"


def _read(path: Path, flags: int) -> NDArray[np.uint8]:
    img = cv2.imread(str(path), flags)
    if img is None:
        raise FileNotFoundError(path)
    return np.asarray(img, np.uint8)


def _anime_backgrounds(n: int) -> list[NDArray[np.uint8]]:
    """``n`` anime frames (RGB): left panels of the side-by-side clips and the One Piece clip."""
    out: list[NDArray[np.uint8]] = []
    clips = sorted((SHARED / "data/anime/clips").glob("*.mp4"))
    for clip in clips:
        with av.open(str(clip)) as c:
            for i, frame in enumerate(c.decode(video=0)):
                if i % 40 != 20:
                    continue
                img = frame.to_ndarray(format="rgb24")
                if img.shape[1] > 2 * img.shape[0]:
                    img = img[:, : img.shape[1] // 3]  # the left panel is the original frame
                out.append(np.asarray(cv2.resize(img, (640, 480), interpolation=cv2.INTER_AREA), np.uint8))
                if len(out) >= n * (clips.index(clip) + 1) // len(clips):
                    break
    return out[:n]


def anime_composites(n_bg: int = 4) -> list[tuple[str, NDArray[np.uint8], NDArray[np.bool_]]]:
    """Characters over anime backgrounds: ``(name, image, ground truth)``."""
    chars = sorted((SHARED / "data/anime/characters").glob("*.png"))
    bgs = _anime_backgrounds(n_bg)
    scenes = []
    for k, path in enumerate(chars):
        rgba = cv2.cvtColor(_read(path, cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)
        bg = bgs[k % len(bgs)].astype(np.float32)
        side = 300 + 40 * (k % 4)
        rgba = cv2.resize(rgba, (side, side), interpolation=cv2.INTER_AREA)
        x0, y0 = (40 + 57 * k) % (640 - side), 480 - side
        a = rgba[..., 3:].astype(np.float32) / 255.0
        roi = bg[y0:y0 + side, x0:x0 + side]
        bg[y0:y0 + side, x0:x0 + side] = a * rgba[..., :3] + (1 - a) * roi
        gt = np.zeros((480, 640), bool)
        gt[y0:y0 + side, x0:x0 + side] = a[..., 0] > 0.5
        scenes.append((path.stem, np.clip(bg, 0, 255).astype(np.uint8), gt))
    return scenes


def run_vos() -> None:
    root = SHARED / "data/vos"
    if not root.exists():
        print("vos: ../shared/data/vos is absent, skipped")
        return
    r = eval_clicks(root, RegionClicker())
    for name, v in r["objects"].items():
        print(f"vos {name:20s} NoC@85 {v['NoC@85']:4.0f}  NoC@90 {v['NoC@90']:4.0f}  "
              f"IoU@1 {v['IoU@1']:.3f}  IoU@5 {v['IoU@5']:.3f}")
    print(f"vos mean NoC@85 {r['NoC@85']:.2f}  NoC@90 {r['NoC@90']:.2f}")


def run_anime() -> None:
    if not (SHARED / "data/anime/characters").exists():
        print("anime: ../shared/data/anime is absent, skipped")
        return
    n85, n90 = [], []
    for name, img, gt in anime_composites():
        ious = simulate(RegionClicker(), name, img, gt)
        n85.append(noc(ious, 0.85))
        n90.append(noc(ious, 0.90))
        print(f"anime {name:12s} NoC@85 {n85[-1]:3d}  NoC@90 {n90[-1]:3d}  IoU@1 {ious[0]:.3f}  "
              f"IoU@5 {ious[min(4, len(ious) - 1)]:.3f}")
    print(f"anime mean NoC@85 {np.mean(n85):.2f}  NoC@90 {np.mean(n90):.2f}")


def run_speed(n_images: int = 4, clicks: int = 8) -> None:
    frames = sorted((SHARED / "data/video/demo-1080p/frames").glob("*.jpg"))[:n_images]
    if not frames:
        print("speed: ../shared/data/video/demo-1080p is absent, skipped")
        return
    rng = np.random.default_rng(0)
    cold: list[tuple[float, float]] = []
    warm: list[tuple[float, float]] = []
    clicker = RegionClicker()
    for k, path in enumerate(frames):
        img = np.asarray(cv2.cvtColor(_read(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB), np.uint8)
        h, w = img.shape[:2]
        prior = np.zeros((h, w), bool)
        cv2.ellipse(prior.view(np.uint8), (w // 2, h // 2), (w // 6, h // 3), 0, 0, 360, 1, -1)
        points: list[tuple[float, float, bool]] = []
        for i in range(clicks):
            points.append((float(rng.uniform(0.2, 0.8) * w), float(rng.uniform(0.2, 0.8) * h), bool(i % 2 == 0)))
            t, c = time.perf_counter(), time.process_time()
            prior = clicker.predict(f"speed{k}", img, Prompt(points=tuple(points)), prior)
            (cold if i == 0 else warm).append((time.perf_counter() - t, time.process_time() - c))
    for label, xs in (("cold", cold), ("warm", warm), ("all", cold + warm)):
        wall = np.array([x[0] for x in xs]) * 1000
        cpu = np.array([x[1] for x in xs]) * 1000
        print(f"speed 1080p {label:4s} n={len(xs):3d}  wall p50 {np.percentile(wall, 50):6.1f} ms  "
              f"p95 {np.percentile(wall, 95):6.1f} ms   cpu p50 {np.percentile(cpu, 50):6.1f} ms  "
              f"p95 {np.percentile(cpu, 95):6.1f} ms")


if __name__ == "__main__":
    which = sys.argv[1:] or ["vos", "anime", "speed"]
    for part in which:
        {"vos": run_vos, "anime": run_anime, "speed": run_speed}[part]()
