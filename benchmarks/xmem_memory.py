"""XMem on a long 1080p shot: is memory bounded whatever the length? Prints RSS as the shot goes.

A generated shot (1920x1080 frames made on access, so the shot itself takes no memory) is propagated
forward from its first frame with `XMemPropagator.stream`, the official memory settings (working
memory 5-10 frames, long-term at most 10,000 elements) and each result dropped once read, as the
project store does. Resident memory is sampled every ``--every`` frames; the peak (VmHWM) is printed
at the end. ``--net tiny`` uses the test-sized network (fast on CPU); ``--net real`` the real-size one.
``--device cuda`` runs it on the GPU (autocast, as the app does) and adds the GPU memory held and its peak.

    python benchmarks/xmem_memory.py [--frames 2000] [--net tiny|real] [--every 100] [--threads 1]
                                     [--max-long 10000] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import overload

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def status_kb(field: str) -> int:
    """A ``VmRSS`` / ``VmHWM`` figure of this process, in kB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


class GeneratedShot(Sequence[np.ndarray]):
    """``n`` frames of a disc crossing a gradient, built on access (nothing is kept)."""

    def __init__(self, n: int, h: int = 1080, w: int = 1920) -> None:
        self.n, self.h, self.w = n, h, w
        yy, xx = np.mgrid[0:h, 0:w]
        self._bg = np.stack([xx * 200 // w, yy * 200 // h, np.full_like(xx, 90)], -1).astype(np.uint8)
        self._yy, self._xx = yy, xx

    def __len__(self) -> int:
        return self.n

    @overload
    def __getitem__(self, i: int) -> np.ndarray: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[np.ndarray]: ...
    def __getitem__(self, i: int | slice) -> np.ndarray | Sequence[np.ndarray]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.n))]
        frame = self._bg.copy()
        cx = self.w * (0.2 + 0.6 * ((i % 400) / 400))
        frame[(self._yy - self.h / 2) ** 2 + (self._xx - cx) ** 2 < (self.h / 5) ** 2] = (230, 60, 60)
        return frame

    def labels(self, i: int) -> np.ndarray:
        return (np.all(self[i] == (230, 60, 60), axis=-1)).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--net", choices=("tiny", "real"), default="tiny")
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-long", type=int, default=10000, help="max_long_elements (official 10000)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    on_gpu = args.device.startswith("cuda")

    def gpu_mb() -> str:
        return f" {torch.cuda.memory_allocated() / 2**20:8.0f}" if on_gpu else ""

    torch.set_num_threads(args.threads)
    from models.xmem import XMemPropagator
    from models.xmem.network import build_random

    torch.manual_seed(0)
    dims = {"base": 4, "key_dim": 16, "value_dim": 32, "hidden_dim": 8} if args.net == "tiny" else {}
    shot = GeneratedShot(args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "XMem.pth"
        torch.save(build_random(**dims).state_dict(), path)
        # Official defaults: size 480, mem_every 5, 5..10 working frames, top-k 30, 128 prototypes.
        prop = XMemPropagator(path, max_long_elements=args.max_long)
        prop.load(args.device)
    where = torch.cuda.get_device_name() if on_gpu else f"{args.threads} torch thread(s)"
    print(f"XMem {args.net} network, {args.frames} frames 1920x1080 -> 480x853, {where}, "
          f"max_long_elements {args.max_long}")
    print(f"{'frame':>6} {'RSS MB':>8} {'work el.':>9} {'long el.':>9} {'compressions':>13} {'s/frame':>8}"
          + (f" {'GPU MB':>8}" if on_gpu else ""))
    print(f"{'start':>6} {status_kb('VmRSS') / 1024:8.0f}")
    t0 = last = time.perf_counter()
    done = 0
    for t, result in prop.stream(shot, 0, shot.labels(0)):
        del result
        done += 1
        if t % args.every == 0 or t == args.frames - 1:
            now = time.perf_counter()
            s = prop.last_stats
            print(f"{t:6d} {status_kb('VmRSS') / 1024:8.0f} {s['working_elements']:9d} {s['long_term_elements']:9d} "
                  f"{s['consolidations']:13d} {(now - last) / args.every:8.3f}{gpu_mb()}", flush=True)
            last = now
    print(f"peak RSS (VmHWM) {status_kb('VmHWM') / 1024:.0f} MB over {done} propagated frames, "
          f"{time.perf_counter() - t0:.0f} s" + (f"; peak GPU {torch.cuda.max_memory_allocated() / 2**20:.0f} MB"
                                                   if on_gpu else ""))


if __name__ == "__main__":
    main()
