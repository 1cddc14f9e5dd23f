"""Time every deep backend at its real size with random weights: latency, frames/s, peak GPU memory.

Weights are random but every network has the real architecture; the state-dict backends are saved
to a temporary checkpoint in the official key layout and loaded through the same ``load`` path real
weights use. Runs on CUDA when available (bf16/fp16 autocast inside the backends), else on the CPU.

    python benchmarks/gpu_models.py [--models sam_b,sam_h,xmem,u2net,isnet,modnet,lama,m2f,clipseg,clip]
                                    [--sizes 480,1080] [--repeats 5] [--device cuda] [--ops click]
                                    [--threads N]

Batch operations run on ``--threads`` torch threads (default: every usable core, as the pipeline);
a SAM click runs the way the app runs it, on `models.torch_utils.cpu_threads("interactive")` threads,
and again on 1, 2 and the batch thread count, to show what the pin buys on a busy machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.base import Prompt

SIZES = {480: (854, 480), 1080: (1920, 1080)}


def test_frame(width: int, height: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    mask = np.zeros((height, width), bool)
    mask[height // 4 : 3 * height // 4, width // 3 : 2 * width // 3] = True
    return image, mask


def saved(module: torch.nn.Module, tmp: Path, name: str, wrap: Callable[[dict[str, Any]], Any] = lambda s: s) -> Path:
    path = tmp / name
    torch.save(wrap(module.state_dict()), path)
    return path


def build(name: str, device: str, tmp: Path) -> Any:
    """A loaded backend of real size with random weights."""
    if name.startswith("sam_"):
        from models.sam import SamClicker

        return SamClicker.build_random(f"vit_{name[4:]}", device=device)  # type: ignore[arg-type]
    if name == "m2f":
        from models.mask2former import Mask2FormerSegmenter

        return Mask2FormerSegmenter.build_random("swin_large", device=device)
    if name == "clipseg":
        from models.clipseg import ClipSegEffectSeparator

        return ClipSegEffectSeparator.build_random(device=device)
    if name == "clip":
        from models.annotators import ClipAnnotator

        return ClipAnnotator.build_random(device=device)
    if name == "xmem":
        from models.xmem import XMemPropagator
        from models.xmem.network import build_random as xmem_net

        backend: Any = XMemPropagator(weights=saved(xmem_net(), tmp, "XMem.pth"))
    elif name == "u2net":
        from models.u2net import U2NetMatter
        from models.u2net import build_random as u2net_net

        backend = U2NetMatter(weights=saved(u2net_net(), tmp, "u2net.pth"))
    elif name == "isnet":
        from models.isnet import ISNetMatter
        from models.isnet import build_random as isnet_net

        backend = ISNetMatter(weights=saved(isnet_net(), tmp, "isnet.pth"))
    elif name == "modnet":
        from models.modnet import MODNetMatter
        from models.modnet import build_random as modnet_net

        backend = MODNetMatter(weights=saved(modnet_net(), tmp, "modnet.ckpt"))
    elif name == "lama":
        from models.lama import LamaInpainter
        from models.lama_network import build_random as lama_net

        wrap = lambda s: {"state_dict": {f"generator.{k}": v for k, v in s.items()}}  # noqa: E731
        backend = LamaInpainter(weights=saved(lama_net(), tmp, "best.ckpt", wrap))
    else:
        raise SystemExit(f"unknown model {name}")
    backend.load(device)
    return backend


def workload(name: str, backend: Any, image: np.ndarray, mask: np.ndarray) -> dict[str, Callable[[int], Any]]:
    """Named timed operations; each takes a repeat index (so caches keyed by image id can be defeated)."""
    if name.startswith("sam_"):
        backend.precompute("warm", image)
        prompt = Prompt(points=((image.shape[1] / 2, image.shape[0] / 2, True),))

        def on_threads(n: int) -> Callable[[int], Any]:
            def run(i: int) -> Any:
                backend.interactive_threads, before = False, torch.get_num_threads()
                torch.set_num_threads(n)
                try:
                    return backend.predict("warm", image, prompt, mask)
                finally:
                    backend.interactive_threads = True
                    torch.set_num_threads(before)
            return run

        ops: dict[str, Callable[[int], Any]] = {
            # keyed by size too: the second size must not find the first size's embeddings cached
            "embedding": lambda i: backend.precompute(f"e{image.shape[0]}-{i}", image),
            "click (cached embedding)": lambda i: backend.predict("warm", image, prompt, mask),
        }
        for n in sorted({1, 2, torch.get_num_threads()}):
            ops[f"click (cached, {n} thr)"] = on_threads(n)
        return ops
    if name == "xmem":
        frames = [image] * 8
        labels = mask.astype(np.uint8)
        return {"8-frame propagation": lambda i: backend.propagate(frames, {0: labels}, "forward")}
    if name in ("u2net", "isnet", "modnet"):
        return {"matte": lambda i: backend.matte(image, mask)}
    if name == "lama":
        return {"plate": lambda i: backend.clean_plates([image], [mask])}
    if name == "m2f":
        return {"segment 4 frames": lambda i: backend.segment_shot([image] * 4)}
    if name == "clipseg":
        return {"effects": lambda i: backend.separate(image, mask, None)}
    return {"annotate": lambda i: backend.annotate(image, mask.astype(np.uint8), {1: "character"})}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="sam_b,sam_h,xmem,u2net,isnet,modnet,lama,m2f,clipseg,clip")
    parser.add_argument("--sizes", default="480,1080")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--ops", default="", help="only operations whose name contains this")
    parser.add_argument("--threads", type=int, default=0, help="torch threads for batch work (0: every usable core)")
    args = parser.parse_args()
    from models.torch_utils import cpu_threads

    torch.set_num_threads(args.threads or cpu_threads("batch"))
    device = args.device
    label = torch.cuda.get_device_name() if device.startswith("cuda") else (
        f"CPU, {torch.get_num_threads()} batch threads, {cpu_threads('interactive')} for a click")
    print(f"device: {label}; torch {torch.__version__}; random weights, real sizes")
    print(f"{'model':<8} {'size':>5} {'operation':<26} {'p50 ms':>9} {'p95 ms':>9} {'per s':>8} {'peak GPU MB':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            backend = build(name, device, Path(tmp))
            for size in (int(s) for s in args.sizes.split(",")):
                image, mask = test_frame(*SIZES[size])
                for op, run in workload(name, backend, image, mask).items():
                    if args.ops not in op:
                        continue
                    run(-1)  # warm-up: kernels, autotuning, lazy allocations
                    sync(device)
                    if device.startswith("cuda"):
                        torch.cuda.reset_peak_memory_stats()
                    times = []
                    for i in range(args.repeats):
                        t0 = time.perf_counter()
                        run(i)
                        sync(device)
                        times.append((time.perf_counter() - t0) * 1000)
                    peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else float("nan")
                    p50, p95 = np.percentile(times, 50), np.percentile(times, 95)
                    units = 8 if op.startswith("8-frame") else 4 if "4 frames" in op else 1
                    print(f"{name:<8} {size:>4}p {op:<26} {p50:9.1f} {p95:9.1f} {1000 * units / p50:8.2f} {peak:12.0f}", flush=True)
            backend.release()
            del backend
            if device.startswith("cuda"):
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
