"""Generated shots over real anime backgrounds, with the truth the layer measures need.

The shared RGBA characters (exact alpha) are composited over plates cut from real anime frames
(`backgrounds.anime_plate`) under the generator's own camera moves (pans, tilts, zooms), so every
layer's truth is exact: the matte, the effect strength, the clean plate, and also which background
pixels the shot ever reveals (`revealed`), which is what a stitched plate can know at best.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from app.demo.backgrounds import anime_clips, anime_plate
from app.demo.generator import GeneratedFrame, GeneratedVideo, generate_shots
from app.demo.project import write_generated
from app.errors import InputError
from app.store import Project

CLEAR_ALPHA = 0.02  # background under a character this faint is visible (a stitch may use it)
CLEAR_EFFECT = 0.05  # and under this little added light


class AnimeBackdropVideo(GeneratedVideo):
    """A `GeneratedVideo` whose plates are real anime frames from ``clips_dir``."""

    clips_dir: Path

    def plate(self, shot: int) -> np.ndarray:
        if self._plate is None or self._plate[0] != shot:
            self._plate = (shot, anime_plate(self.shots[shot].plate_seed, self.width, self.height, self.clips_dir))
        return self._plate[1]


def generate_anime_shots(seed: int, *, clips_dir: Path, character_dir: Path, width: int = 480, height: int = 270,
                         shots: int = 2, frames_per_shot: int = 16) -> AnimeBackdropVideo:
    """Plan shots like `generate_shots` with the shared characters, over real anime plates."""
    if not anime_clips(clips_dir):
        raise InputError(f"No anime clips (.mp4) in {clips_dir}.")
    base = generate_shots(seed, width=width, height=height, shots=shots, frames_per_shot=frames_per_shot,
                          character_dir=character_dir)
    video = AnimeBackdropVideo(base.seed, base.width, base.height, base.fps, base.cast, base.shots, base.character_dir)
    video.clips_dir = Path(clips_dir)
    return video


def revealed(video: AnimeBackdropVideo, frames: list[GeneratedFrame]) -> list[np.ndarray]:
    """Per frame of one shot, the pixels whose background some frame of the shot shows (bool).

    A background pixel is shown where no character covers it (alpha <= `CLEAR_ALPHA`) and no effect
    lights it (<= `CLEAR_EFFECT`), on a normal frame (flash and impact frames hide the background).
    Each frame's clear pixels are carried onto the plate through the true camera, pooled, and carried
    back into every frame.
    """
    ph, pw = video.plate(frames[0].shot).shape[:2]
    h, w = video.height, video.width
    seen = np.zeros((ph, pw), np.uint8)
    for f in frames:
        if f.kind != "normal":
            continue
        clear = ((f.alpha <= CLEAR_ALPHA) & (f.effects <= CLEAR_EFFECT)).astype(np.uint8)
        m = video.camera(f.index).matrix(w, h)  # plate -> frame
        seen |= np.asarray(cv2.warpAffine(clear, m, (pw, ph), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP), np.uint8)
    out = []
    for f in frames:
        m = video.camera(f.index).matrix(w, h)
        out.append(cv2.warpAffine(seen, m, (w, h), flags=cv2.INTER_NEAREST) > 0)
    return out


def write_project(root: Path, video: GeneratedVideo, name: str = "Anime backdrops") -> Project:
    """Write ``video`` as a project at ``root`` with its ground truth beside it (left open)."""
    params: dict[str, object] = {
        "seed": video.seed, "width": video.width, "height": video.height, "shots": len(video.shots),
        "frames_per_shot": video.shots[0].length, "backdrops": "anime",
        "character_dir": str(video.character_dir) if video.character_dir is not None else None,
    }
    return write_generated(Path(root), video, name, params)
