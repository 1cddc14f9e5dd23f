"""Held drawings, found at import: consecutive frames that show the same picture.

Anime is drawn on twos and threes and holds still drawings for seconds, so most consecutive frames
of an episode are the same drawing. Whether two frames are the same drawing up to compression noise
is `models.classical.drawings.same_drawing` (its docstring says how the test was decided from real
clips). A camera pan or shake over a held cel moves every edge, so it is not a hold: results could
not be shared without carrying the shift. Holds never cross a cut (`app.store.drawings`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from models.classical.drawings import grey, same_drawing

__all__ = ["HoldDetector", "same_drawing"]


class HoldDetector:
    """Streaming: `push` every frame in order; `held` says which frames repeat the drawing before.

    Each frame is compared with the first frame of the current drawing, not with the frame before
    it, so a slow drift (a creeping pan, a long fade) cannot chain into one endless "hold"."""

    def __init__(self) -> None:
        self._key: NDArray[np.uint8] | None = None
        self.held: list[bool] = []

    def push(self, frame: NDArray[np.uint8]) -> bool:
        picture = grey(frame)
        held = self._key is not None and same_drawing(self._key, picture)
        if not held:
            self._key = picture
        self.held.append(held)
        return held
