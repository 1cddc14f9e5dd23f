"""Anime face detection with nagadomi's ``lbpcascade_animeface.xml`` (an OpenCV LBP cascade).

The cascade file is looked up in an explicit path, then the user's weights folder
(``$CELSTUDIO_WEIGHTS`` or ``<user data dir>/celstudio/weights``), then ``../shared/weights`` next
to the repository (development). Without it, detection quietly returns no faces: faces are only
extra seeds for segmentation, never required.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image
from models.classical.filters import colour_distance
from models.classical.geometry import Matrix
from models.manager import default_weights_dir

CASCADE_NAME = "lbpcascade_animeface.xml"
_SINGLE_THREAD = threading.Lock()
Box = tuple[int, int, int, int]  # x, y, w, h


def find_cascade(path: str | os.PathLike[str] | None = None) -> Path | None:
    """First existing cascade file among the explicit path, the weights folder and ../shared."""
    candidates = []
    if path is not None:
        candidates.append(Path(path))
    candidates.append(default_weights_dir() / CASCADE_NAME)
    candidates.append(Path(__file__).resolve().parents[2].parent / "shared" / "weights" / CASCADE_NAME)
    for c in candidates:
        if c.is_file():
            return c
    return None


# Measured on 10 tuning seeds of benchmarks/segment_generated.py (stop 33): character IoU 0.708 with
# the cascade, 0.390 without it - touching characters come out as one object; with the eye pairs
# (`eyes.eye_pair_faces`, round 17) 0.714 with, 0.682 without. Worth saying once per run.
MISSING_CASCADE_NOTICE = (
    "The anime face detector is not installed: characters standing together may come out as one "
    "object. `celstudio models download animeface-cascade` (241 KiB) installs it."
)


def cascade_notice(path: str | os.PathLike[str] | None = None) -> str | None:
    """What to tell a user whose weight-free segmenter runs without faces; None when it has them."""
    return None if find_cascade(path) is not None else MISSING_CASCADE_NOTICE


class AnimeFaceDetector:
    """Detects anime faces; `available` is False (and `detect` returns ``[]``) without the cascade.

    Parameters
    ----------
    path
        Optional explicit cascade file.
    min_size
        Smallest face side in pixels of the image given to `detect`.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, min_size: int = 24) -> None:
        self.min_size = min_size
        self._cascade: cv2.CascadeClassifier | None = None
        found = find_cascade(path)
        if found is not None:
            try:
                cascade = cv2.CascadeClassifier(str(found))
            except (cv2.error, SystemError):  # a damaged file: faces are optional, carry on
                cascade = None
            if cascade is not None and not cascade.empty():
                self._cascade = cascade

    @property
    def available(self) -> bool:
        """Whether a cascade was found and loaded."""
        return self._cascade is not None

    def detect(self, image: Image) -> list[Box]:
        """Face boxes ``(x, y, w, h)`` in the pixels of ``image`` (RGB uint8), sorted; safe to call from
        several threads at once."""
        if self._cascade is None or min(image.shape[:2]) < self.min_size:
            return []
        grey = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
        # The cascade's candidates come from OpenCV's worker threads and are grouped in the order they
        # arrive, so its faces depended on how many threads OpenCV had free at that moment (two runs of
        # the same shot gave different faces, hence different stage-1 objects). One OpenCV thread for
        # the call makes it deterministic; the lock keeps concurrent callers from restoring each
        # other's setting.
        with _SINGLE_THREAD:
            threads = cv2.getNumThreads()
            cv2.setNumThreads(1)
            try:
                found = self._cascade.detectMultiScale(
                    grey, scaleFactor=1.1, minNeighbors=5, minSize=(self.min_size, self.min_size)
                )
            finally:
                cv2.setNumThreads(threads)
        return sorted((int(x), int(y), int(w), int(h)) for x, y, w, h in np.asarray(found).reshape(-1, 4))


# A face carried into a frame where the detector missed it must look the same there: this share of
# its box's middle within `SAME` Lab units of the frame it was found in, through the camera (a still
# face under moving hair: 0.8-0.95 on sakura_quest's close-up; a face that turned or walked on: low).
CARRY_AGREE = 0.7
SAME = 10.0


def carry_faces(smalls: Sequence[Image], faces: Sequence[list[Box]], transforms: Sequence[Matrix]) -> list[list[Box]]:
    """``faces`` per frame, with a box found in the nearest frames both before and after (at the same
    place, through the camera) added to frames between where the detector missed it and the picture
    in the box is the one before the gap.

    The cascade misses a face in some drawings of a shot and finds it in the next (a close-up's face
    cut by the frame's edge, a blink, hair across it); a face that stands still is then burnt into
    the shot's background plate, so in those drawings it is background and the character's mask
    keeps only its moving hair - and the plate stitched from outside the masks learns the face, so
    the check against it cuts the face from the other drawings too (sakura_quest_s01e003's close-up).
    ``transforms`` map each frame to the plate, at the scale of ``smalls``."""
    out = [list(f) for f in faces]
    found = [i for i, f in enumerate(faces) if f]
    if not found:
        return out
    h, w = smalls[0].shape[:2]

    def lab(i: int) -> NDArray[np.float32]:
        return np.asarray(cv2.cvtColor(np.asarray(smalls[i]), cv2.COLOR_RGB2LAB), np.float32)

    def moved(j: int, i: int) -> tuple[NDArray[np.float64], list[Box]]:
        m = (np.linalg.inv(np.asarray(transforms[i])) @ np.asarray(transforms[j]))[:2]
        boxes = []
        for x, y, fw, fh in faces[j]:
            cx, cy = m @ np.array([x + fw / 2, y + fh / 2, 1.0])
            boxes.append((int(np.round(cx - fw / 2)), int(np.round(cy - fh / 2)), int(fw), int(fh)))
        return m, boxes

    for i in range(len(smalls)):
        before = [j for j in found if j < i]
        after = [j for j in found if j > i]
        if not before or not after:
            continue
        # Found on both sides of the gap at the same place: a false face on the background (found in
        # one drawing, at random) is not carried into a still background's other drawings.
        j = before[-1]
        m, boxes = moved(j, i)
        later = moved(after[0], i)[1]
        for box in boxes:
            fw, fh = box[2], box[3]
            if any(_overlap(box, b) > 0.3 for b in out[i]) or not any(_overlap(box, b) > 0.5 for b in later):
                continue
            # The middle half of the box, the face itself, compared with where it was found.
            x0, y0 = max(0, box[0] + fw // 4), max(0, box[1] + fh // 4)
            x1, y1 = min(w, box[0] + fw - fw // 4), min(h, box[1] + fh - fh // 4)
            if x1 - x0 < 4 or y1 - y0 < 4:
                continue
            there = np.asarray(cv2.warpAffine(lab(j), m, (w, h), flags=cv2.INTER_LINEAR), np.float32)
            inside = cv2.warpAffine(np.ones((h, w), np.uint8), m, (w, h), flags=cv2.INTER_NEAREST) > 0
            d = colour_distance(lab(i)[y0:y1, x0:x1], there[y0:y1, x0:x1])
            seen = inside[y0:y1, x0:x1]
            if seen.mean() > 0.5 and float((d[seen] <= SAME).mean()) >= CARRY_AGREE:
                out[i].append(box)
    return [sorted(f) for f in out]


def _overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / max(1, min(a[2] * a[3], b[2] * b[3]))
