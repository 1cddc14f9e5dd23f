"""Short real and generated video clips made at test time (nothing is committed but this code)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np


def write_mp4(path: Path, frames: Iterable[np.ndarray], fps: float = 24.0, *, crf: int = 12,
              preset: str = "veryfast", gop: int | None = None) -> Path:
    """Encode RGB frames to H.264 with PyAV: near-lossless by default; a higher ``crf`` adds the
    compression noise of a real release, ``gop`` fixes the keyframe spacing."""
    with av.open(str(path), "w") as out:
        stream = None
        for image in frames:
            if stream is None:
                stream = out.add_stream("libx264", rate=round(fps))
                stream.height, stream.width = image.shape[:2]
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(crf), "preset": preset}
                if gop is not None:
                    stream.gop_size = gop
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
                out.mux(packet)
        if stream is not None:
            for packet in stream.encode():
                out.mux(packet)
    return path


def read_frames(path: Path, start: int, stop: int, size: tuple[int, int] | None = None) -> list[np.ndarray]:
    """Frames ``[start, stop)`` of a video as RGB arrays, resized to ``size`` (w, h) if given."""
    out: list[np.ndarray] = []
    with av.open(str(path)) as src:
        for i, frame in enumerate(src.decode(video=0)):
            if i >= stop:
                break
            if i >= start:
                if size is not None:
                    frame = frame.reformat(width=size[0], height=size[1])
                out.append(frame.to_ndarray(format="rgb24"))
    return out


def generated_clip(path: Path, seed: int, *, shots: int = 3, frames_per_shot: int = 12,
                   width: int = 320, height: int = 180, cast_size: int = 2) -> tuple[Path, object]:
    """A generated multi-shot clip written to mp4; returns the path and the `GeneratedVideo` (truth)."""
    from app.demo.generator import generate_shots

    video = generate_shots(seed, width=width, height=height, shots=shots, frames_per_shot=frames_per_shot,
                           cast_size=cast_size)
    write_mp4(path, (f.image for f in video), fps=video.fps)
    return path, video
