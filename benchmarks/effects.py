"""Effect separation (the effects stage) against the demo generator's exact truth.

Two figures per seed, both effect IoU at strength 0.25 (as ``celstudio eval layers``):

- ``true``: the separator given the true character mask and the true clean plate;
- ``pipeline``: given what the pipeline gives it (segment character masks, the inpaint stage's
  clean plate). Running the stages up to inpaint is slow, so their outputs are cached per seed under
  ``--cache``.

Also prints a per-kind breakdown (glow, sparks, speed lines, flash) and the speed at 854x480.
Usage: ``python benchmarks/effects.py [--seeds 101,202,303] [--cache /tmp/celstudio-fx]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.demo.generator import generate_shots
from app.demo.project import create_demo_project
from app.pipeline.runner import PipelineRunner
from app.pipeline.stages import character_mask
from models.classical.effects import ClassicalEffectSeparator

THRESHOLD = 0.25
SIZE = dict(width=480, height=270, shots=2, frames_per_shot=16)


def pipeline_inputs(seed: int, cache: Path) -> dict[str, np.ndarray]:
    """Frames, segment character masks and inpaint plates of the eval-layers video for ``seed``."""
    path = cache / f"seed{seed}.npz"
    if path.exists():
        return dict(np.load(path))
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        project = create_demo_project(Path(tmp) / "p", seed=seed, **SIZE)  # type: ignore[arg-type]
        runner = PipelineRunner(project).start()
        runner.submit_run(["segment", "propagate", "matte", "inpaint"]).wait()
        runner.wait_idle(3600)
        runner.stop()
        n = project.frame_count
        frames = np.stack([project.frame(i) for i in range(n)])
        masks = np.stack([character_mask(project, i) for i in range(n)])
        plates = np.stack([np.asarray(project.layers.read("clean", i)) for i in range(n)])
        project.close()
    np.savez_compressed(path, frames=frames, masks=masks, plates=plates)
    return {"frames": frames, "masks": masks, "plates": plates}


def iou(a: np.ndarray, b: np.ndarray) -> float | None:
    union = np.logical_or(a, b).sum()
    return None if union == 0 else float(np.logical_and(a, b).sum() / union)


def frame_kind(video: object, frame: object) -> str:
    """What dominates the frame's truth: flash/impact, else the kinds of the active effects."""
    if frame.kind != "normal":  # type: ignore[attr-defined]
        return frame.kind  # type: ignore[attr-defined]
    plan = video.shots[frame.shot]  # type: ignore[attr-defined]
    local = frame.index - plan.start  # type: ignore[attr-defined]
    kinds = sorted({s.kind for s in plan.effects if s.envelope(local) > 0})
    return "+".join(kinds) or "none"


def evaluate(seed: int, cache: Path, sep: ClassicalEffectSeparator) -> dict[str, float]:
    video = generate_shots(seed, **SIZE)  # type: ignore[arg-type]
    inputs = pipeline_inputs(seed, cache)
    res: dict[str, list[float | None]] = {"true": [], "pipeline": [], "noplate": []}
    per_kind: dict[str, list[float | None]] = {}
    for i, f in enumerate(video):
        truth = f.effects > THRESHOLD
        a = sep.separate(f.image, f.labels > 0, f.clean)
        b = sep.separate(inputs["frames"][i], inputs["masks"][i], inputs["plates"][i])
        c = sep.separate(f.image, f.labels > 0, None)
        res["true"].append(iou(a > THRESHOLD, truth))
        res["pipeline"].append(iou(b > THRESHOLD, truth))
        res["noplate"].append(iou(c > THRESHOLD, truth))
        per_kind.setdefault(frame_kind(video, f), []).append(res["pipeline"][-1])
    out = {k: float(np.mean([x for x in v if x is not None])) for k, v in res.items()}
    kinds = {k: float(np.mean([x for x in v if x is not None] or [np.nan])) for k, v in per_kind.items()}
    print(f"seed {seed}: " + "  ".join(f"{k} {v:.3f}" for k, v in out.items())
          + "   pipeline by kind: " + "  ".join(f"{k} {v:.2f}" for k, v in sorted(kinds.items())))
    return out


def speed(sep: ClassicalEffectSeparator, frames: int = 16) -> None:
    video = generate_shots(7, width=854, height=480, shots=1, frames_per_shot=frames)
    data = [(f.image, f.labels > 0, f.clean) for f in video]
    t0 = time.perf_counter()
    for img, m, p in data:
        sep.separate(img, m, p)
    with_plate = frames / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for img, m, _ in data:
        sep.separate(img, m, None)
    without = frames / (time.perf_counter() - t0)
    print(f"854x480: {with_plate:.1f} frames/s with a plate, {without:.1f} frames/s without")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", default="101,202,303")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "celstudio-fx")
    ap.add_argument("--no-speed", action="store_true")
    args = ap.parse_args()
    sep = ClassicalEffectSeparator()
    rows = [evaluate(int(s), args.cache, sep) for s in args.seeds.split(",")]
    print("mean:    " + "  ".join(f"{k} {np.mean([r[k] for r in rows]):.3f}" for k in rows[0]))
    if not args.no_speed:
        speed(sep)


if __name__ == "__main__":
    main()
