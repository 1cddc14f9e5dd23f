"""SIGKILL a process that writes corrections and layers; every confirmed correction must survive."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from app.store import Manifest, Project, SourceInfo

W, H, FRAMES = 96, 64, 12

WRITER = textwrap.dedent(
    f"""
    import os
    import sys
    import numpy as np
    from app.store import MaskEdit, Project

    def labels_for(seq):
        rng = np.random.default_rng(seq)
        labels = np.zeros(({H}, {W}), np.uint8)
        y, x = rng.integers(0, {H} - 16), rng.integers(0, {W} - 16)
        labels[y:y + 16, x:x + 16] = seq % 250 + 1
        return labels

    project = Project.open(sys.argv[1], recover=True)
    rng = np.random.default_rng(int(sys.argv[2]))
    while True:
        frame = int(rng.integers(0, {FRAMES}))
        seq = project.journal.last_seq + 1
        before = project.masks_or_empty(frame)
        project.commit("click", [MaskEdit(frame, before, labels_for(seq), seq % 250 + 1)])
        os.write(1, f"{{seq}} {{frame}}\\n".encode())  # confirmed: commit returned after fsync (one atomic write)
        project.layers.write("alpha", frame, rng.random(({H}, {W})).astype(np.float32))
        project.layers.write("clean", frame, rng.integers(0, 255, ({H}, {W}, 3), dtype=np.uint8))
    """
)


def expected_labels(seq: int) -> np.ndarray:
    rng = np.random.default_rng(seq)
    labels = np.zeros((H, W), np.uint8)
    y, x = rng.integers(0, H - 16), rng.integers(0, W - 16)
    labels[y : y + 16, x : x + 16] = seq % 250 + 1
    return labels


def test_sigkill_at_random_moments_loses_no_confirmed_correction(tmp_path: Path) -> None:
    root = tmp_path / "p"
    Project.create(root, Manifest("crash", SourceInfo("generated", "", "h"), FRAMES, W, H, 24.0)).close()
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    chooser = random.Random(1234)
    confirmed: dict[int, int] = {}  # frame -> seq of the last confirmed correction
    all_confirmed: set[int] = set()
    for attempt in range(20):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(root), str(attempt)], stdout=subprocess.PIPE, text=True, env=env
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()  # wait until it is writing, then kill at a random moment
        assert first, "writer died before its first correction"
        time.sleep(chooser.uniform(0.0, 0.4))
        os.kill(proc.pid, signal.SIGKILL)
        rest = proc.stdout.read()
        proc.wait()
        for line in (first + rest).splitlines(keepends=True):
            if not line.endswith("\n"):
                continue  # cut off by the kill before it was fully reported
            seq, frame = map(int, line.split())
            confirmed[frame] = seq
            all_confirmed.add(seq)
        with Project.open(root, recover=True) as project:
            seqs = {e.seq for e in project.journal.entries}
            assert all_confirmed <= seqs
            for frame, seq in confirmed.items():
                last = max(e.seq for e in project.journal.entries if frame in e.frames)
                stored = project.layers.read("masks", frame)
                assert stored is not None
                # the last journalled edit may be one the kill cut off before it printed; it is still there
                assert np.array_equal(stored, expected_labels(last))
                assert last >= seq
    assert len(all_confirmed) > 20
