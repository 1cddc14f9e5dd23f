"""A real full disk, not an injected one: import onto a small tmpfs (needs root; Linux only).

Mounts a 6 MiB tmpfs, imports a clip that needs far more onto it twice - once as shipped (the
free-space check refuses it before writing) and once with the checks disabled, so HDF5 itself hits
ENOSPC - and prints each run's exit code, its stderr lines starting with ``celstudio:``, and what
was left in the folder. Before this branch the second case ended in SIGSEGV (rc -11/139) with a
half-made project left behind.

    sudo .venv/bin/python benchmarks/full_disk.py [VIDEO]   (default: ../shared/data/anime/clips/onepiece_demo.mp4)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import sys
import app.ingest.importer as importer
if sys.argv[3] == "unchecked":
    importer.free_space_check = lambda *a, **k: None
from app.cli import main
sys.exit(main(["import", sys.argv[1], sys.argv[2]]))
"""


def main() -> int:
    repo = Path(__file__).resolve().parents[1]
    video = Path(sys.argv[1]) if len(sys.argv) > 1 else repo.parent / "shared/data/anime/clips/onepiece_demo.mp4"
    if not video.is_file():
        print(f"no video at {video}; pass one")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        mnt = Path(tmp) / "small"
        mnt.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mnt)]).returncode != 0:
            print("cannot mount a tmpfs here (needs root)")
            return 2
        try:
            for mode in ("checked", "unchecked"):
                dest = mnt / mode
                proc = subprocess.run([sys.executable, "-c", CHILD, str(video), str(dest), mode],
                                      env={**os.environ, "PYTHONPATH": str(repo)}, capture_output=True, text=True)
                said = [line for line in proc.stderr.replace("\r", "\n").splitlines() if line.startswith("celstudio:")]
                left = sorted(p.name for p in dest.iterdir()) if dest.exists() else []
                print(f"{mode:9s} rc={proc.returncode} left={left or 'nothing'}")
                for line in said:
                    print(f"          {line}")
        finally:
            subprocess.run(["umount", str(mnt)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
