"""A deterministic stand-in for the click model, shared by the UI tests and `benchmarks/ui.py` (which
puts this folder on its path): plain numpy, no pytest, so a benchmark can import it."""

from __future__ import annotations

import numpy as np

from models.base import Prompt


class DiskClicker:
    """The prior (the object's current mask), plus the box's inner half (a box only narrows what a
    real model finds in it), plus a disk of ``radius`` px around each positive point, minus one around
    each negative. Disks are drawn in their own square, so a 1080p click costs what the app does, not
    what a full-frame coordinate grid would."""

    name = "disk"
    role = "clicker"

    def __init__(self, radius: int = 8) -> None:
        self.radius = radius

    def load(self, device: str = "cpu") -> None:
        pass

    def release(self) -> None:
        pass

    def predict(self, image_id: str, image: np.ndarray, prompt: Prompt, prior: np.ndarray | None) -> np.ndarray:
        h, w = image.shape[:2]
        mask = prior.copy() if prior is not None else np.zeros((h, w), bool)
        if prompt.box is not None:
            x0, y0, x1, y1 = prompt.box
            dx, dy = (x1 - x0) / 4, (y1 - y0) / 4
            ys, xs = np.arange(h)[:, None], np.arange(w)[None, :]
            mask |= (xs >= x0 + dx) & (xs < x1 - dx) & (ys >= y0 + dy) & (ys < y1 - dy)
        r = self.radius
        for x, y, positive in prompt.points:
            # The disk's square: pixels farther than r on either axis cannot be inside it.
            top, left = max(0, int(np.ceil(y - r))), max(0, int(np.ceil(x - r)))
            bottom, right = min(h, int(np.floor(y + r)) + 1), min(w, int(np.floor(x + r)) + 1)
            if top >= bottom or left >= right:
                continue
            yy, xx = np.mgrid[top:bottom, left:right]
            disk = (xx - x) ** 2 + (yy - y) ** 2 <= r**2
            window = mask[top:bottom, left:right]
            window[disk] = positive
        return mask
