"""Flat-coloured standing figures for the stage-1 rule tests (`test_shared_objects`, `test_track_changes`):
the palettes and the one way a character is drawn, so both tests draw the same characters."""

from __future__ import annotations

import numpy as np

SKY = (150, 200, 240)
GREEN_HAIR, PINK = (40, 150, 60), (230, 120, 160)
PURPLE_HAIR, BLUE = (120, 60, 200), (60, 90, 200)
SKIN = (250, 215, 190)


def draw_figure(img: np.ndarray, lab: np.ndarray, oid: int, x: int, hair: tuple[int, int, int],
                body: tuple[int, int, int], eyes: tuple[int, int, int] | None = None) -> None:
    """A standing character 24 px wide at ``x``: hair over a skin face over a body over skin legs,
    each a flat fill outlined in dark ink, drawn over whatever is there (it is in front). ``eyes``: an
    iris colour, to draw the face's two anime eyes (white sclera, the iris, a dark pupil)."""
    img[10:92, x : x + 24] = (20, 20, 20)
    lab[10:92, x : x + 24] = oid
    for rows, colour in ((slice(12, 26), hair), (slice(28, 40), SKIN), (slice(42, 76), body), (slice(78, 90), SKIN)):
        img[rows, x + 2 : x + 22] = colour
    if eyes is not None:
        for ex in (x + 4, x + 14):
            img[29:38, ex : ex + 6] = (255, 255, 255)
            img[30:38, ex + 1 : ex + 5] = eyes
            img[32:35, ex + 2 : ex + 4] = (20, 20, 30)


def track_ids(labels: list[np.ndarray]) -> list[set[int]]:
    """The track ids on each drawing (what `segment_shot` hands the stage-1 rules as ``characters``)."""
    return [{int(v) for v in np.unique(lab) if v} for lab in labels]
