"""Anime face detection with nagadomi's ``lbpcascade_animeface.xml`` (an OpenCV LBP cascade).

The cascade file is looked up in an explicit path, then the user's weights folder
(``$CELSTUDIO_WEIGHTS`` or ``<user data dir>/celstudio/weights``), then ``../shared/weights`` next
to the repository (development). Without it, detection quietly returns no faces: faces are only
extra seeds for segmentation, never required.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import cv2
import numpy as np

from models.base import Image
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
