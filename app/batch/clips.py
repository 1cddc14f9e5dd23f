"""Short generated episodes written as real H.264 files (tests, benchmarks and the scaling figures).

They go through the same import path (PyAV decode, cut detection) as a user's episode, so a batch
over them exercises everything a season does, at a size two shared CPU cores can run in seconds.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

from app.demo.generator import generate_shots


def write_generated_clip(
    path: Path, seed: int, *, width: int = 160, height: int = 96, shots: int = 2, frames_per_shot: int = 8,
    fps: int = 24,
) -> Path:
    """Encode a deterministic generated video (hard cuts between its shots) to ``path`` and return it."""
    import av

    video = generate_shots(seed, width=width, height=height, shots=shots, frames_per_shot=frames_per_shot, fps=fps)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as out:
        stream: Any = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt, stream.gop_size = width, height, "yuv420p", 8
        stream.codec_context.time_base = Fraction(1, fps)
        # Near-lossless, so the generator's hard cuts stay hard cuts for the importer's detector.
        stream.options = {"crf": "12"}
        for frame in video:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame.image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
