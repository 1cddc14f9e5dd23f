"""What the export and import safety checks cost: resume verification, folder checks, free-space polls.

A re-export now re-reads every file it would skip and compares its sha256 with the manifest (a
size check alone let a flipped bit through). This prints, for a demo project with ground-truth
layers: the first export, an unchanged re-export (all files verified, none written), the folder
check alone, sha256 throughput, and the cost of one free-space poll (`shutil.disk_usage`), which
the exporter does before each file and the importer every 32 frames.

    .venv/bin/python benchmarks/reliability.py [--width 1280 --height 720 --frames 24]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from app.demo.groundtruth import load_ground_truth
from app.demo.project import GROUND_TRUTH_FILE, create_demo_project
from app.export import export_project
from app.export.folder import check_output_folder
from app.export.manifest import file_sha256


def _timed(fn: object) -> tuple[float, object]:
    t = time.perf_counter()
    result = fn()  # type: ignore[operator]
    return time.perf_counter() - t, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--frames", type=int, default=24, help="frames (two shots)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "p"
        project = create_demo_project(root, width=args.width, height=args.height, shots=2,
                                      frames_per_shot=max(1, args.frames // 2))
        with project, load_ground_truth(root / GROUND_TRUTH_FILE) as gt:
            for member in gt.meta["cast"]:  # the demo lists no objects; the truth's labels are its cast
                project.add_object(member["name"], "character", tuple(member["colour"])).identity = member["identity"]
            project.save_manifest()
            for i in range(project.frame_count):
                project.layers.write("masks", i, gt.layer("labels", i), {"backend": "truth"})
                project.layers.write("alpha", i, gt.layer("alpha", i), {"backend": "truth"})
            out = Path(tmp) / "out"
            first_s, first = _timed(lambda: export_project(project, out, format="layers"))
            again_s, again = _timed(lambda: export_project(project, out, format="layers"))
        files = [p for p in out.rglob("*") if p.is_file()]
        total = sum(p.stat().st_size for p in files)
        check_s, _ = _timed(lambda: check_output_folder(out))
        hash_s, _ = _timed(lambda: [file_sha256(p) for p in files])
        polls = 2000
        poll_s, _ = _timed(lambda: [shutil.disk_usage(out) for _ in range(polls)])
    print(f"layers export of {args.frames} frames at {args.width}x{args.height}: "
          f"{len(files)} files, {total / 2**20:.1f} MiB")
    print(f"first export        {first_s:7.2f} s  written {first['written']}")  # type: ignore[index]
    print(f"unchanged re-export {again_s:7.2f} s  written {again['written']}, "  # type: ignore[index]
          f"verified {again['skipped']} by sha256")  # type: ignore[index]
    print(f"folder check alone  {check_s * 1000:7.1f} ms")
    print(f"sha256 of all files {hash_s * 1000:7.1f} ms  ({total / 2**20 / max(hash_s, 1e-9):.0f} MiB/s)")
    print(f"free-space poll     {poll_s / polls * 1e6:7.1f} us each")


if __name__ == "__main__":
    main()
