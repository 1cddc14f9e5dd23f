"""Which of a frame's flat colour regions a character's shape priors may claim.

The segment stage hands GrabCut shape priors as probable foreground: the convex hull of what moved
and the head and body boxes under a face. A box is a poor character shape: beside the character it
holds background the plate sees (a facade, the sky between two heads), and GrabCut keeps it (most of
the false foreground on generated shots came in this way). Anime draws a character as flat regions
closed by its line art and colour edges, and a moving character moves its regions: each of them
holds pixels that departed from the plate (a slowly walking character's flat shirt at its leading
and trailing edges). The background beside it, cut into strips by the same outline, holds none.

`claimable` keeps, for the priors, the regions that hold enough moved pixels (or a seed such as a
face core) and the line art that bounds them: a prior is then a set of the character's regions,
not a box.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image
from models.classical.enclosure import edges

K3 = np.ones((3, 3), np.uint8)
Mask = NDArray[np.bool_]


def claimable(image: Image, moved: Mask, share: float = 0.05, least: int = 12, grow: int = 2) -> Mask:
    """Pixels in flat regions (bounded by line art and colour edges) that hold moved pixels.

    A region is a character's when at least ``share`` of it, and at least ``least`` pixels, moved:
    a moved pixel or two leaks across an outline into the background beside it (the frame's blur,
    compression), a character's own region moves along a whole edge. The boundary pixels (line
    art, colour edges) within ``grow`` pixels of a kept region go with it: the outline is the
    character's too."""
    barrier = edges(image)
    n, comp = cv2.connectedComponents((~barrier).astype(np.uint8), connectivity=4)
    total = np.bincount(comp.ravel(), minlength=n)
    hit = np.bincount(comp[moved], minlength=n)
    keep = (hit >= share * total) & (hit >= least)
    keep[0] = False  # label 0: the boundary pixels themselves
    region = keep[comp]
    near = cv2.dilate(region.astype(np.uint8), K3, iterations=grow) > 0
    return np.asarray(region | (barrier & near) | moved)


def restrict(prior: Mask, claim: Mask, cover: float = 0.3) -> Mask:
    """``prior`` cut down to ``claim`` in each of its connected parts whose claimable regions cover
    at least ``cover`` of it; a part that holds less is left whole. A character that barely moves
    moves too few of its regions to describe it (a shirt that stays put holds no moved pixel), and
    there the box is still the better guess."""
    n, comp = cv2.connectedComponents(prior.astype(np.uint8), connectivity=8)
    total = np.bincount(comp.ravel(), minlength=n)
    held = np.bincount(comp[claim & prior], minlength=n)
    trust = held >= cover * np.maximum(total, 1)
    trust[0] = False
    return np.asarray(prior & (claim | ~trust[comp]))
