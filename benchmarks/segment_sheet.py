"""Contact sheet of weight-free stage-1 labels on a real clip (default ../shared onepiece_demo.mp4).

    python -m benchmarks.segment_sheet [VIDEO] [--out sheet.png] [--every 12] [--width 320]

Shots come from the cut detector; each shot is segmented as the pipeline does (whole shot at once).
Each tile is the frame with its labels tinted per id (text objects hatched white) and the ids and
kinds written in the corner. Prints per-shot figures: objects per frame, ids per shot, seconds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from app.ingest.shots import cuts_to_shots, detect_cuts
from app.sources.source import open_source
from models.base import FrameSegmentation
from models.classical.segmentation import ClassicalSegmenter

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
def _palette() -> np.ndarray:
    """Distinct hues per id (golden-angle steps), id 0 black."""
    hsv = np.zeros((1, 256, 3), np.uint8)
    hsv[0, :, 0] = (np.arange(256) * 37) % 180
    hsv[0, :, 1], hsv[0, :, 2] = 220, 255
    rgb = np.asarray(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0], np.uint8)
    rgb[0] = 0
    return rgb


PALETTE = _palette()


def tile(image: np.ndarray, seg: FrameSegmentation, width: int, caption: str) -> np.ndarray:
    """The frame tinted by label, outlined per object, scaled to ``width``."""
    lab = seg.labels
    out = image.astype(np.float32)
    fg = lab > 0
    out[fg] = 0.45 * out[fg] + 0.55 * PALETTE[lab[fg]]
    for oid, kind in seg.kinds.items():
        edge = cv2.morphologyEx((lab == oid).astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
        out[edge] = (255, 255, 255) if kind == "text" else (0, 0, 0)
    h, w = image.shape[:2]
    small = cv2.resize(np.clip(out, 0, 255).astype(np.uint8), (width, round(h * width / w)), interpolation=cv2.INTER_AREA)
    for k, (oid, kind) in enumerate(sorted(seg.kinds.items())):
        text = f"{oid}:{kind[:4]}"
        cv2.putText(small, text, (4, 14 + 13 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3)
        cv2.putText(small, text, (4, 14 + 13 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.4, tuple(int(c) for c in PALETTE[oid]), 1)
    cv2.putText(small, caption, (4, small.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3)
    cv2.putText(small, caption, (4, small.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
    return small


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("video", nargs="?", default=str(SHARED / "data/anime/clips/onepiece_demo.mp4"))
    ap.add_argument("--out", default="segment_sheet.png")
    ap.add_argument("--every", type=int, default=12)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--cols", type=int, default=4)
    args = ap.parse_args()
    source = open_source(Path(args.video))
    frames = [source.get(i) for i in range(source.frame_count)]
    source.close()
    shots = cuts_to_shots(detect_cuts(frames), len(frames))
    seg = ClassicalSegmenter()
    tiles = []
    for shot in shots:
        started = time.perf_counter()
        result = seg.segment_shot(frames[shot.start : shot.end])
        seconds = time.perf_counter() - started
        ids = sorted({int(i) for r in result for i in np.unique(r.labels) if i})
        per_frame = np.mean([len(set(np.unique(r.labels).tolist()) - {0}) for r in result])
        kinds = sorted({k for r in result for k in r.kinds.values()})
        print(f"shot {shot.start}-{shot.end}: ids {ids} kinds {kinds} objects/frame {per_frame:.2f} "
              f"({seconds:.1f} s, {len(result) / seconds:.1f} frames/s)")
        for i in range(shot.start, shot.end, args.every):
            tiles.append(tile(frames[i], result[i - shot.start], args.width, f"f{i} shot {shot.start}-{shot.end}"))
    rows = []
    blank = np.zeros_like(tiles[0])
    for r in range(0, len(tiles), args.cols):
        row = tiles[r : r + args.cols]
        row += [blank] * (args.cols - len(row))
        rows.append(np.hstack(row))
    cv2.imwrite(args.out, cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
