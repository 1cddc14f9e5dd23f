"""Which frames show the same drawing: the frame -> drawing map derived from the import's hold flags.

The flags (``held[i]``: frame ``i`` repeats the drawing of frame ``i - 1``) are found at import
(`app.ingest.holds`) and stored in media.h5; the map is derived from them and the current shots, so
splitting or merging shots never leaves a hold across a cut.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from app.store.manifest import Shot


def drawing_keys(held: list[bool] | NDArray[np.bool_], shots: list[Shot]) -> NDArray[np.int32]:
    """For every frame, the first frame of its drawing (its *key*); a shot's first frame is always a key."""
    n = len(held)
    keys = np.arange(n, dtype=np.int32)
    starts = {s.start for s in shots}
    for i in range(1, n):
        if held[i] and i not in starts:
            keys[i] = keys[i - 1]
    return keys
