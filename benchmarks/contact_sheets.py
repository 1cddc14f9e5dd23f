"""Contact sheets of the layers Celstudio makes from a real anime clip (default onepiece_demo.mp4).

Imports the clip, runs segment -> propagate on every frame and matte -> effects -> inpaint on the
picked frames (with their shots as context) with the weight-free backends, and writes two JPEGs into
``--out`` (default ``benchmarks/out/contact_sheets``, ignored by git: the sheets show ../shared content and are never committed):

- ``<name>_cutouts.jpg``: per picked frame, the frame, the characters' cut-out (RGBA, as an export
  writes it: burnt-in text left out, the character's pixels under it painted) on a checkerboard, and the effect layer solo (its light over black);
- ``<name>_plates.jpg``: per picked frame, the clean plate, and the plate with its invented pixels
  (``plate_confidence`` 0: no frame of the shot shows them) tinted magenta and stitched ones
  (seen in another frame of the shot) tinted green.

The project is kept in ``--work`` so a second run only re-renders. Usage:
``python benchmarks/contact_sheets.py [--clip PATH] [--frames 20,30,60,110,140,170] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.export.core import FrameData
from app.export.render import characters_alpha, decontaminate
from app.export.selection import FrameItem
from app.paths import shared_dir
from app.pipeline.runner import PipelineRunner, PipelineSettings
from app.store import Project

TILE = 320


def checkerboard(h: int, w: int, cell: int = 12) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    light = ((yy // cell + xx // cell) % 2 == 0)[..., None]
    return np.where(light, 205, 150).astype(np.uint8) * np.ones((1, 1, 3), np.uint8)


def tinted(plate: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    out = plate.astype(np.float32)
    invented = confidence < 128
    stitched = (confidence >= 128) & (confidence < 255)
    out[invented] = 0.45 * out[invented] + 0.55 * np.array([255, 0, 200], np.float32)
    out[stitched] = 0.75 * out[stitched] + 0.25 * np.array([0, 255, 0], np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def tile(image: np.ndarray, label: str) -> np.ndarray:
    h, w = image.shape[:2]
    t = cv2.resize(image, (TILE, round(TILE * h / w)), interpolation=cv2.INTER_AREA)
    cv2.putText(t, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(t, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return t


def open_or_build(clip: Path, work: Path, frames: list[int]) -> Project:
    """The clip's project with masks for every frame and the other layers for ``frames`` (each
    solved with its shot around it, as the app's downstream re-run does)."""
    root = work / clip.stem
    if (root / "project.json").is_file():
        project = Project.open(root)
    else:
        from app.ingest.importer import import_source

        project = import_source(clip, root)
    runner = PipelineRunner(project, PipelineSettings()).start()
    started = time.perf_counter()
    runner.submit_run(["segment", "propagate"]).wait()
    runner.submit_frames([f for f in frames if f < project.frame_count], ("matte", "effects", "inpaint")).wait()
    runner.wait_idle(3600)
    runner.stop()
    print(f"pipeline: {time.perf_counter() - started:.0f} s")
    return project


def main() -> None:
    ap = argparse.ArgumentParser()
    data = shared_dir()
    ap.add_argument("--clip", type=Path, default=data / "data/anime/clips/onepiece_demo.mp4" if data else None)
    ap.add_argument("--frames", default="20,30,60,110,140,170")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "benchmarks" / "out" / "contact_sheets")
    ap.add_argument("--work", type=Path, default=Path("/tmp/celstudio-contact"))
    args = ap.parse_args()
    if args.clip is None or not Path(args.clip).is_file():
        print("no clip: ../shared/data/anime/clips is absent (give --clip)")
        return
    picked = [int(f) for f in args.frames.split(",")]
    project = open_or_build(Path(args.clip), args.work, picked)
    frames = [f for f in picked if f < project.frame_count]
    cut_rows, plate_rows = [], []
    characters = project.objects.ids_of_kind("character")
    for f in frames:
        # What an export writes of the characters: the pixels burnt-in text hides painted from the
        # character and given to it, the text itself (its own object) left out.
        view = FrameData(project, FrameItem(f, 0, [], {}))
        image = view.image
        h, w = image.shape[:2]
        a8 = characters_alpha(view.object_labels, view.object_alpha, characters)
        a = a8.astype(np.float32)[..., None] / 255.0
        # The colour an export writes: at soft pixels the foreground solved against the clean plate.
        colour = decontaminate(view.object_image, a8, view.clean)
        cut = (a * colour + (1 - a) * checkerboard(h, w)).astype(np.uint8)
        eff = project.layers.read("effects", f)
        e = (eff if eff is not None else np.zeros((h, w), np.uint8)).astype(np.float32)[..., None] / 255.0
        solo = (e * image).astype(np.uint8)
        cut_rows.append(np.hstack([tile(image, f"frame {f}"), tile(cut, "cut-out"), tile(solo, "effects solo")]))
        clean = view.clean
        conf = project.layers.read("plate_confidence", f)
        if clean is not None and conf is not None:
            share = 100.0 * float((conf < 128).mean())
            plate_rows.append(np.hstack([tile(image, f"frame {f}"), tile(clean, "clean plate"),
                                         tile(tinted(clean, conf), f"invented {share:.1f}% (magenta)")]))
    args.out.mkdir(parents=True, exist_ok=True)
    name = Path(args.clip).stem
    for suffix, rows in (("cutouts", cut_rows), ("plates", plate_rows)):
        if rows:
            path = args.out / f"{name}_{suffix}.jpg"
            sheet = cv2.resize(np.vstack(rows), None, fx=0.75, fy=0.75, interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
            print(path)
    project.close()


if __name__ == "__main__":
    main()
