"""CPU seconds of the clean plate's spatial fills on a full-HD frame with a large hole.

The hole is an ellipse over 24 % of the first frame of ``../shared/data/video/demo-1080p`` (what a
static shot with a big character leaves invented); each fill runs ``--repeat`` times and the least
CPU time (``time.process_time``) is reported. Usage: ``python benchmarks/spatial_fill.py [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.paths import shared_dir
from models.classical.exemplar import exemplar_fill
from models.classical.inpaint import telea


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    data = shared_dir()
    frames = sorted((data / "data/video/demo-1080p/frames").glob("*.jpg")) if data else []
    if not frames:
        print("no frames: ../shared/data/video/demo-1080p is absent")
        return
    read = cv2.imread(str(frames[0]))
    if read is None:
        print(f"cannot read {frames[0]}")
        return
    image = np.asarray(cv2.cvtColor(read, cv2.COLOR_BGR2RGB), np.uint8)
    hole = np.zeros(image.shape[:2], np.uint8)
    cv2.ellipse(hole, (900, 560), (330, 480), 0, 0, 360, 1, -1)
    mask = hole.astype(bool)
    print(f"{image.shape[1]}x{image.shape[0]}, hole {100 * mask.mean():.1f} % of the frame")
    for name, fill in (("telea", telea), ("exemplar", exemplar_fill)):
        times = []
        for _ in range(args.repeat):
            started = time.process_time()
            fill(image, mask)
            times.append(time.process_time() - started)
        print(f"{name}: {min(times):.2f} CPU s (of {', '.join(f'{t:.2f}' for t in times)})")


if __name__ == "__main__":
    main()
