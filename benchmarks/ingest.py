"""Ingest benchmarks: import speed, random-access latency, proxy fetch, mask bytes, peak memory.

Usage::

    .venv/bin/python benchmarks/ingest.py                       # everything
    .venv/bin/python benchmarks/ingest.py --parts import,random,proxy
    .venv/bin/python benchmarks/ingest.py --parts rss --rss-frames 2500,10000

Parts:
    import  frames/s importing ../shared/data/video/bedroom.mp4 and the 1080p frames folder
    random  random-access latency p50/p95 (cache off) with each file's GOP
    proxy   proxy fetch latency p50/p95 from an imported project (target p95 <= 5 ms)
    masks   bytes on disk per 1000 frames of realistic 1080p label maps written via LayerStore
    rss     peak RSS importing synthetic 1080p videos of several lengths (target < 1 GB, flat)

Every import runs in a child process so its peak RSS (ru_maxrss) is its own. Figures are printed,
never asserted. The synthetic videos are cached in the system temp folder.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
BEDROOM = SHARED / "data" / "video" / "bedroom.mp4"
FRAMES_1080 = SHARED / "data" / "video" / "demo-1080p" / "frames"
TMP = Path(tempfile.gettempdir()) / "celstudio-bench-ingest"


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def child_import(src: Path, dest: Path) -> dict[str, Any]:
    """Run in a subprocess: import src into dest and report time and peak memory."""
    import shutil

    from app.ingest.importer import import_source

    shutil.rmtree(dest, ignore_errors=True)
    base = _maxrss_mb()
    t0 = time.perf_counter()
    with import_source(src, dest) as project:
        n = project.frame_count
        shots = len(project.shots)
    dt = time.perf_counter() - t0
    media_per_1000 = (dest / "media.h5").stat().st_size / max(n, 1) * 1000 / 1e6
    return {"frames": n, "seconds": dt, "fps": n / dt, "base_rss_mb": base, "peak_rss_mb": _maxrss_mb(),
            "shots": shots, "media_mb_per_1000": media_per_1000}


def run_child_import(src: Path, dest: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child-import", str(src), str(dest)],
        check=True, capture_output=True, text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def make_synthetic(path: Path, frames: int, *, gop: int = 48, size: tuple[int, int] = (1920, 1080)) -> Path:
    """A 1080p H.264 (libx264 ultrafast) video: a still textured plate with small moving blocks."""
    import av

    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    luma = (60 + 60 * np.sin(xx / 97.0) * np.cos(yy / 53.0) + rng.normal(0, 4, (h, w))).clip(0, 255).astype(np.uint8)
    base = np.concatenate([luma, np.full((h // 2, w), 128, np.uint8)], axis=0)  # yuv420p, grey chroma
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), mode="w") as out:
        stream: Any = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt, stream.gop_size = w, h, "yuv420p", gop
        stream.options = {"preset": "ultrafast"}
        for i in range(frames):
            plane = base.copy()
            x, y = (i * 7) % (w - 160), 300 + int(120 * np.sin(i / 15.0))
            plane[y : y + 120, x : x + 160] = 230
            plane[h + y // 2 : h + y // 2 + 60, x // 2 * 2 : x // 2 * 2 + 160] = 90  # a coloured block
            for packet in stream.encode(av.VideoFrame.from_ndarray(plane, format="yuv420p")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    tmp.rename(path)
    return path


def _pct(values: list[float]) -> tuple[float, float]:
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def bench_import(rows: list[tuple[str, str]]) -> None:
    for label, src in (("bedroom.mp4 960x540", BEDROOM), ("1080p JPEG folder", FRAMES_1080)):
        if not src.exists():
            rows.append((f"import {label}", "skipped (../shared absent)"))
            continue
        r = run_child_import(src, TMP / "import")
        rows.append((f"import {label}", f"{r['fps']:.1f} frames/s ({r['frames']} frames, {r['shots']} shots, "
                                         f"peak RSS {r['peak_rss_mb']:.0f} MB, media.h5 "
                                         f"{r['media_mb_per_1000']:.0f} MB/1000 frames)"))


def bench_random(rows: list[tuple[str, str]], samples: int) -> None:
    from app.sources.source import VideoFrameSource, open_source

    files = [("bedroom.mp4", BEDROOM), ("synthetic 1080p", make_synthetic(TMP / "synth-1080p-600.mp4", 600))]
    for label, path in files:
        if not path.exists():
            rows.append((f"random access {label}", "skipped (../shared absent)"))
            continue
        src = open_source(path, cache_frames=0)
        assert isinstance(src, VideoFrameSource)
        rng = random.Random(0)
        times = []
        for _ in range(samples):
            i = rng.randrange(src.frame_count)
            t0 = time.perf_counter()
            src.get(i)
            times.append((time.perf_counter() - t0) * 1000)
        p50, p95 = _pct(times)
        rows.append((f"random access {label} ({src.width}x{src.height}, GOP {src.gop}, {src.frame_count} frames)",
                     f"p50 {p50:.1f} ms, p95 {p95:.1f} ms ({samples} random frames, cache off)"))
        src.close()


def bench_proxy(rows: list[tuple[str, str]], samples: int) -> None:
    from app.store import Project

    src = BEDROOM if BEDROOM.exists() else make_synthetic(TMP / "synth-1080p-600.mp4", 600)
    dest = TMP / "proxy"
    run_child_import(src, dest)
    with Project.open(dest) as project:
        rng = random.Random(1)
        times = []
        for _ in range(samples):
            i = rng.randrange(project.frame_count)
            t0 = time.perf_counter()
            project.proxy(i)
            times.append((time.perf_counter() - t0) * 1000)
        shape = project.proxy(0).shape
    p50, p95 = _pct(times)
    rows.append((f"proxy fetch {shape[1]}x{shape[0]} ({src.name})", f"p50 {p50:.2f} ms, p95 {p95:.2f} ms (target p95 <= 5 ms)"))


def realistic_labels(i: int, w: int, h: int) -> np.ndarray:
    """Two characters (head, body, limbs) and an effect, moving a little each frame."""
    import cv2

    lab = np.zeros((h, w), np.uint8)
    for oid, (cx, speed) in ((1, (w * 0.3, 3.0)), (2, (w * 0.65, -2.0))):
        x, y = int(cx + speed * i), int(h * 0.45 + 10 * np.sin(i / 9 + oid))
        cv2.ellipse(lab, (x, y), (int(h * 0.09), int(h * 0.11)), 0, 0, 360, oid, -1)  # head
        body = np.array([[x - h * 0.12, y + h * 0.1], [x + h * 0.12, y + h * 0.1], [x + h * 0.16, y + h * 0.5],
                         [x - h * 0.16, y + h * 0.5]], np.int32)
        cv2.fillPoly(lab, [body], oid)
        arm = int(h * 0.2 * np.sin(i / 5 + oid))
        cv2.line(lab, (x - int(h * 0.1), y + int(h * 0.15)), (x - int(h * 0.28), y + int(h * 0.3) + arm), oid, 18)
    cv2.circle(lab, (int(w * 0.5 + 40 * np.cos(i / 4)), int(h * 0.3)), int(40 + 15 * np.sin(i / 3)), 3, -1)  # effect
    return lab


def bench_masks(rows: list[tuple[str, str]], frames: int) -> None:
    from app.store.layers import LayerStore

    path = TMP / "masks.h5"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    w, h = 1920, 1080
    store = LayerStore(path, frames, w, h, create=True)
    store.write("masks", 0, realistic_labels(0, w, h))
    store.flush()
    empty = path.stat().st_size
    for i in range(1, frames):
        store.write("masks", i, realistic_labels(i, w, h))
    store.close()
    per_1000 = (path.stat().st_size - empty) / (frames - 1) * 1000
    rows.append((f"masks on disk, 1920x1080 label maps ({frames} written)", f"{per_1000 / 1e6:.1f} MB per 1000 frames "
                                                                          f"({per_1000 / 1000 / 1024:.1f} KiB/frame)"))


def bench_rss(rows: list[tuple[str, str]], lengths: list[int]) -> None:
    import shutil

    for n in lengths:
        video = make_synthetic(TMP / f"synth-1080p-{n}.mp4", n)
        r = run_child_import(video, TMP / f"rss-{n}")
        rows.append((f"peak RSS import synthetic 1080p, {n} frames",
                     f"{r['peak_rss_mb']:.0f} MB (after imports {r['base_rss_mb']:.0f} MB; {r['fps']:.1f} frames/s; "
                     f"media.h5 {r['media_mb_per_1000']:.0f} MB/1000 frames)"))
        shutil.rmtree(TMP / f"rss-{n}", ignore_errors=True)  # multi-GB at 10,000 frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="import,random,proxy,masks,rss")
    ap.add_argument("--samples", type=int, default=60)
    ap.add_argument("--mask-frames", type=int, default=300)
    ap.add_argument("--rss-frames", default="2500,10000")
    ap.add_argument("--child-import", nargs=2, metavar=("SRC", "DEST"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_import:
        print(json.dumps(child_import(Path(args.child_import[0]), Path(args.child_import[1]))))
        return
    rows: list[tuple[str, str]] = []
    parts = set(args.parts.split(","))
    if "import" in parts:
        bench_import(rows)
    if "random" in parts:
        bench_random(rows, args.samples)
    if "proxy" in parts:
        bench_proxy(rows, args.samples * 5)
    if "masks" in parts:
        bench_masks(rows, args.mask_frames)
    if "rss" in parts:
        bench_rss(rows, [int(n) for n in args.rss_frames.split(",")])
    width = max(len(k) for k, _ in rows)
    print(f"{'measure':<{width}}  result")
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
