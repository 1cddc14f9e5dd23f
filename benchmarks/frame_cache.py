"""Frame reads through a project: first read (decode), a repeated read of a cached frame, and a
stage-like pass over a shot (`ShotFrames`) with the peak memory of the frames it holds.

Usage::

    .venv/bin/python benchmarks/frame_cache.py [--frames ../shared/data/video/demo-1080p/frames]

The 1080p JPEG frames are imported twice: as an image folder (frames kept in media.h5) and encoded
to an H.264 video (frames decoded from the file). Each project is measured in a child process; its
peak memory is how far the pass raised the child's RSS (sampled after every read: a child's
``ru_maxrss`` starts at its parent's peak, so it cannot say this). Figures are printed, never asserted.
To compare with another checkout, put it first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
try:
    import app  # noqa: F401  # a checkout on PYTHONPATH is measured as it is
except ImportError:
    sys.path.insert(0, str(ROOT))

FRAMES_1080 = ROOT.parent / "shared" / "data" / "video" / "demo-1080p" / "frames"


def encode(frames: list[Path], out: Path) -> Path:
    import av
    import numpy as np
    from PIL import Image

    with av.open(str(out), mode="w") as container:
        first = np.asarray(Image.open(frames[0]).convert("RGB"))
        stream = container.add_stream("libx264", rate=24)
        stream.height, stream.width = first.shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.gop_size = 12
        for f in frames:
            image = np.asarray(Image.open(f).convert("RGB"))
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out


def measure(root: Path) -> dict[str, float]:
    from app.pipeline.frames import ShotFrames
    from app.store import Project

    # The shot pass first, on a fresh process: the peak it raises is its own.
    with Project.open(root) as project:
        n = project.frame_count
        project.frame(0)  # the decoder and its buffers exist before the baseline
        me = psutil.Process()
        base = peak = me.memory_info().rss
        t0 = time.perf_counter()
        shot = ShotFrames(project, range(n))
        for _ in range(2):  # a stage reads its frames, the next one reads them again
            for i in range(n):
                shot[i]
                peak = max(peak, me.memory_info().rss)
        shot.close()
        pass_ms = (time.perf_counter() - t0) * 1000 / (2 * n)
    with Project.open(root) as project:
        t0 = time.perf_counter()
        for i in range(n):
            project.frame(i)
        first_ms = (time.perf_counter() - t0) * 1000 / n
        hits = []
        for _ in range(200):
            t0 = time.perf_counter()
            project.frame(n - 1)
            hits.append(time.perf_counter() - t0)
    return {"frames": n, "first_ms": first_ms, "hit_us": statistics.median(hits) * 1e6, "pass_ms": pass_ms,
            "peak_mb": (peak - base) / 2**20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=Path, default=FRAMES_1080, help="a folder of same-sized images")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # measure this project, print JSON
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return
    if not args.frames.is_dir():
        print(f"skipped: no frames folder at {args.frames} (the shared data is absent)")
        return
    from app.ingest.importer import import_source
    from app.sources.source import image_files

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        video = encode(image_files(args.frames), work / "clip.mp4")
        import_source(args.frames, work / "images").close()
        import_source(video, work / "video").close()
        print(f"code: {Path(sys.modules['app'].__file__ or '').parent.parent}")
        print(f"{'project':<8} {'frames':>6} {'first read ms':>14} {'cached read us':>15} "
              f"{'shot pass ms/frame':>19} {'peak MB':>8}")
        for kind in ("images", "video"):
            child = subprocess.run([sys.executable, __file__, "--child", str(work / kind)],
                                   capture_output=True, text=True, check=True)
            r = json.loads(child.stdout.strip().splitlines()[-1])
            print(f"{kind:<8} {r['frames']:>6.0f} {r['first_ms']:>14.1f} {r['hit_us']:>15.1f} "
                  f"{r['pass_ms']:>19.2f} {r['peak_mb']:>8.0f}")


if __name__ == "__main__":
    main()
