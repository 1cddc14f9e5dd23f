"""What a run of an imported video holds: the object list (with the shots and frames of each object) and
a contact sheet of a kohya export's cut-outs, one row per object.

    python -m app.cli import ../shared/data/anime/clips/onepiece_demo.mp4 /tmp/op
    python -m app.cli run /tmp/op
    python -m app.cli export /tmp/op /tmp/op_kohya --format kohya
    python benchmarks/episode.py /tmp/op /tmp/op_kohya /tmp/op_cutouts.png   (never commit it: ../shared content)

Prints one JSON object (objects, their frames per shot, file counts) and writes the sheet.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from app.store import Project

CELL = 96
PER_ROW = 8


def _checker(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.where(((yy // 8 + xx // 8) % 2)[..., None] == 0, 200, 150).astype(np.uint8).repeat(3, axis=2)


def _cell(path: Path) -> np.ndarray:
    rgba = cv2.cvtColor(np.asarray(cv2.imread(str(path), cv2.IMREAD_UNCHANGED)), cv2.COLOR_BGRA2RGBA)
    a = rgba[..., 3] > 0
    ys, xs = np.nonzero(a)
    if len(ys):
        rgba = rgba[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = rgba.shape[:2]
    s = CELL / max(h, w)
    rgba = cv2.resize(rgba, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    out = _checker(CELL, CELL)
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    y0, x0 = (CELL - rgba.shape[0]) // 2, (CELL - rgba.shape[1]) // 2
    region = out[y0:y0 + rgba.shape[0], x0:x0 + rgba.shape[1]]
    region[:] = (rgba[..., :3] * alpha + region * (1 - alpha)).astype(np.uint8)
    return out


def main(project_dir: str, export_dir: str, sheet: str, rows: int = 8) -> None:
    export = Path(export_dir)
    manifest = json.loads((export / "manifest.json").read_text())
    images: dict[int, list[tuple[int, Path]]] = defaultdict(list)
    for e in manifest["files"]:
        if e.get("role") == "image" and "object" in e:
            images[e["object"]["id"]].append((e["frame"], export / e["path"]))
    with Project.open(Path(project_dir)) as project:
        shots = project.shots
        objects: list[dict[str, Any]] = []
        for o in project.objects.all():
            frames: dict[int, int] = defaultdict(int)
            for f in range(project.frame_count):
                labels = project.layers.read("masks", f)
                if labels is not None and (labels == o.id).sum() >= 0.002 * labels.size:
                    frames[next(i for i, s in enumerate(shots) if f in s)] += 1
            objects.append({"id": o.id, "name": o.name, "kind": o.kind, "confirmed": o.confirmed,
                            "frames_per_shot": dict(frames), "files": len(images.get(o.id, []))})
    top = sorted(images, key=lambda k: -len(images[k]))[:rows]
    lines = []
    for oid in top:
        picks = sorted(images[oid])
        idx = np.linspace(0, len(picks) - 1, min(PER_ROW, len(picks))).round().astype(int)
        cells = [_cell(picks[i][1]) for i in sorted(set(idx.tolist()))]
        cells += [np.full((CELL, CELL, 3), 255, np.uint8)] * (PER_ROW - len(cells))
        label = np.full((CELL, 150, 3), 255, np.uint8)
        name = str(next(o["name"] for o in objects if o["id"] == oid))
        cv2.putText(label, name, (4, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(label, f"{len(picks)} files", (4, 62), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (80, 80, 80), 1, cv2.LINE_AA)
        lines.append(np.hstack([label, *cells]))
    if lines:
        Path(sheet).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(sheet, cv2.cvtColor(np.vstack(lines), cv2.COLOR_RGB2BGR))
    big = [o for o in objects if sum(o["frames_per_shot"].values()) >= 10]
    print(json.dumps({"objects": len(objects), "objects_on_10_frames_or_more": big,
                      "objects_in_several_shots": [o["name"] for o in objects if len(o["frames_per_shot"]) > 1],
                      "files": sum(len(v) for v in images.values()), "sheet": sheet}, indent=1))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
