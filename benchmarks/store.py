"""Store reliability and cost figures: damaged journals and layer files, and what the checks cost.

Usage::

    .venv/bin/python benchmarks/store.py                     # everything
    .venv/bin/python benchmarks/store.py --parts journal --trials 500

Parts:
    journal  random damage (one flipped bit, a run of garbage inserted, a zeroed range) at a random
             offset of a 24-record journal: corrections lost beyond the records the damage touched
             (the promise: 0), and whether a reader ever changed the file (the promise: never)
    layers   random zeroed or bit-flipped chunks of layers.h5: damaged frames detected on read (the
             promise: all), and `recover` rebuilding each damaged correction from the journal
    cost     the price of the checks: a 1080p masks read with and without the CRC-32, and the
             journal scan of 1,000 records
    fulldisk a real full disk: a 3 MiB tmpfs (needs root and permission to mount; skipped otherwise),
             a `celstudio run` into it (the free-space check disabled, so the writes meet ENOSPC), a
             correction committed on it, then the run again after the disk grows

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.errors import ProjectDamaged  # noqa: E402
from app.store import Manifest, MaskEdit, Project, SourceInfo  # noqa: E402
from app.store.journal import Journal  # noqa: E402
from app.store.journal_format import MARKER  # noqa: E402

W, H = 64, 48


def labels_for(seq: int) -> np.ndarray:
    rng = np.random.default_rng(seq)
    labels = np.zeros((H, W), np.uint8)
    y, x = rng.integers(0, H - 12), rng.integers(0, W - 12)
    labels[y : y + 12, x : x + 12] = seq % 250 + 1
    return labels


def journal_part(trials: int, seed: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="celstudio-bench-store-"))
    path = tmp / "journal.log"
    journal = Journal(path)
    for s in range(1, 25):
        journal.append("click", [MaskEdit(s % 12, np.zeros((H, W), np.uint8), labels_for(s), 1)])
    clean = path.read_bytes()
    starts = [i for i in range(len(clean)) if clean.startswith(MARKER, i)] + [len(clean)]
    rng = random.Random(seed)
    lost_beyond = 0
    touched_total = 0
    reader_wrote = 0
    kinds = {"bit": 0, "garbage": 0, "zeroed": 0}
    for _ in range(trials):
        kind = rng.choice(list(kinds))
        kinds[kind] += 1
        raw = bytearray(clean)
        at = rng.randrange(len(clean))
        if kind == "bit":
            raw[at] ^= 1 << rng.randrange(8)
            span = (at, at + 1)
        elif kind == "garbage":
            n = rng.randrange(1, 2000)
            raw[at:at] = os.urandom(n)
            span = (at, at + 1)
        else:
            n = rng.randrange(1, 2000)
            raw[at : at + n] = bytes(len(raw[at : at + n]))
            span = (at, min(at + n, len(clean)))
        path.write_bytes(bytes(raw))
        # Records the damage touched (their bytes changed) cannot survive; every other one must.
        touched = {k + 1 for k in range(24) if starts[k] < span[1] and span[0] < starts[k + 1]}
        got = {e.seq for e in Journal(path, read_only=True).entries}
        lost_beyond += len(set(range(1, 25)) - touched - got)
        touched_total += len(touched)
        reader_wrote += path.read_bytes() != bytes(raw)
    print(
        f"journal: {trials} damaged journals of 24 records ({kinds}): records touched by the damage "
        f"{touched_total}, other records lost {lost_beyond}, reads that changed the file {reader_wrote}"
    )


def layers_part(trials: int, seed: int) -> None:
    rng = random.Random(seed)
    detected = missed = rebuilt = 0
    for trial in range(trials):
        root = Path(tempfile.mkdtemp(prefix="celstudio-bench-layers-")) / "p"
        with Project.create(root, Manifest("b", SourceInfo("generated", "", "h"), 12, W, H, 24.0)) as p:
            for f in range(12):
                p.commit("brush", [MaskEdit(f, np.zeros((H, W), np.uint8), labels_for(f + 1), 1)])
        frame = rng.randrange(12)
        with h5py.File(root / "layers.h5", "r") as fh:
            info = fh["layers/masks"].id.get_chunk_info_by_coord((frame, 0, 0))
        with open(root / "layers.h5", "r+b") as fh:
            if trial % 2:
                fh.seek(info.byte_offset)
                fh.write(bytes(info.size))
            else:
                fh.seek(info.byte_offset + rng.randrange(info.size))
                byte = fh.read(1)
                fh.seek(-1, 1)
                fh.write(bytes([byte[0] ^ (1 << rng.randrange(8))]))
        with Project.open(root) as p:
            try:
                p.layers.read("masks", frame)
                missed += 1
            except ProjectDamaged:
                detected += 1
        with Project.open(root, recover=True) as p:
            rebuilt += bool(np.array_equal(p.masks_or_empty(frame), labels_for(frame + 1)))
    print(f"layers: {trials} damaged masks chunks (half zeroed, half one flipped bit): detected {detected}, "
          f"missed {missed}, rebuilt from the journal by recover {rebuilt}")


def cost_part() -> None:
    root = Path(tempfile.mkdtemp(prefix="celstudio-bench-cost-")) / "p"
    w, h = 1920, 1080
    rng = np.random.default_rng(0)
    with Project.create(root, Manifest("c", SourceInfo("generated", "", "h"), 32, w, h, 24.0)) as p:
        for f in range(32):
            labels = np.zeros((h, w), np.uint8)
            for k in range(1, 6):
                y, x = rng.integers(0, h - 300), rng.integers(0, w - 300)
                labels[y : y + 300, x : x + 300] = k
            p.layers.write("masks", f, labels)
        times_with = []
        for _ in range(3):
            for f in range(32):
                t = time.perf_counter()
                p.layers.read("masks", f)
                times_with.append(time.perf_counter() - t)
        times_raw = []
        for _ in range(3):
            for f in range(32):
                t = time.perf_counter()
                p.layers.h5.read_row("layers/masks", f)
                times_raw.append(time.perf_counter() - t)
        data = p.layers.h5.read_row("layers/masks", 0)
        assert data is not None
        t = time.perf_counter()
        for _ in range(20):
            from app.store.layers import checksum

            checksum(data)
        crc_ms = (time.perf_counter() - t) / 20 * 1000
    print(
        f"cost: 1080p masks read p50 {np.median(times_with) * 1000:.2f} ms with the CRC-32 check, "
        f"{np.median(times_raw) * 1000:.2f} ms without; the CRC-32 itself {crc_ms:.2f} ms"
    )
    path = root.parent / "journal.log"
    journal = Journal(path)
    for s in range(1, 1001):
        journal.append("click", [MaskEdit(0, np.zeros((H, W), np.uint8), labels_for(s), 1)])
    t = time.perf_counter()
    Journal(path, read_only=True)
    print(f"cost: reading a 1,000-record journal ({path.stat().st_size / 1e6:.1f} MB) {1000 * (time.perf_counter() - t):.0f} ms")


FULL_RUN = """
import sys
import app.pipeline.runner as runner
runner.ensure_free_space = lambda folder, needed: None  # meet ENOSPC in the writes themselves
from app.cli import main
sys.exit(main(["run", sys.argv[1]]))
"""


def fulldisk_part() -> None:
    import subprocess

    mount = Path(tempfile.mkdtemp(prefix="celstudio-bench-full-"))
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True).returncode:
        print("fulldisk: skipped (cannot mount a tmpfs here)")
        return
    try:
        root = mount / "p"
        with Project.create(root, Manifest("full", SourceInfo("generated", "", "h"), 40, 320, 240, 24.0)) as p:
            for i in range(40):
                img = np.full((240, 320, 3), (40, 90, 160), np.uint8)
                img[60:180, 40 + 4 * i : 140 + 4 * i] = (240, 200, 180)
                p.media.write_frame(i, img)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        run = subprocess.run([sys.executable, "-c", FULL_RUN, str(root)], capture_output=True, text=True, env=env)
        last = run.stderr.strip().splitlines()[-1] if run.stderr.strip() else ""
        print(f"fulldisk: run into a full 3 MiB disk: exit {run.returncode}, "
              f"tracebacks {run.stderr.count('Traceback')}, last line: {last}")
        with Project.open(root) as p:
            before = p.journal.last_seq
            try:
                p.commit("brush", [MaskEdit(0, p.masks_or_empty(0), np.ones((240, 320), np.uint8), 1)])
                said = "saved"
            except Exception as exc:
                said = f"{type(exc).__name__}: {exc}"
            print(f"fulldisk: a correction on the full disk: {said}; journal seq {before} -> {p.journal.last_seq}")
        subprocess.run(["mount", "-o", "remount,size=64m", str(mount)], check=True)
        again = subprocess.run([sys.executable, "-m", "app.cli", "run", str(root)], capture_output=True, text=True, env=env)
        print(f"fulldisk: after the disk grew: exit {again.returncode}; " + "; ".join(again.stdout.strip().splitlines()))
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="journal,layers,cost,fulldisk")
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    parts = args.parts.split(",")
    if "journal" in parts:
        journal_part(args.trials, args.seed)
    if "layers" in parts:
        layers_part(max(args.trials // 10, 10), args.seed)
    if "cost" in parts:
        cost_part()
    if "fulldisk" in parts:
        fulldisk_part()


if __name__ == "__main__":
    main()
