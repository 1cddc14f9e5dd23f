"""Glow tails inside a character's mask: light over the plate that continues light already found.

An aura hugs its character's silhouette, and the segmentation often takes the aura's inner part into
the character's mask (it is bright and touches the body). Inside a mask the separator measures light
against the same drawing in neighbouring frames, which carry the lasting aura too, so the tail is
missed (on the layer-quality tuning seeds 202 and 404 about 6,000 true light pixels each lie inside
the masks but off the true characters). Read against the background plate instead, the tail is light;
so is most of the character itself, except that the character is painted in a few flat fills that
recur through the shot (`effect_palette`), while the plate plus a fading glow spreads over many
colours. A pixel of the mask is taken as light when, against the plate, it is brightened and never
darkened (`effects.additive_strength`'s tests), its colour is not one of the shot's character fills,
and it is connected through such pixels to light the separator found.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Mask
from models.classical.effect_light import EffectLight, project_light
from models.classical.effect_palette import Palette


def nearest_colour(strength: NDArray[np.float32], colour: Image) -> NDArray[np.float32]:
    """Per pixel, the light colour of the nearest lit pixel (``strength`` > 0)."""
    lit = strength > 0
    _, label = cv2.distanceTransformWithLabels((~lit).astype(np.uint8), cv2.DIST_L2, 3,
                                               labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(lit)
    table = np.zeros((int(label.max()) + 1, 3), np.float32)
    table[label[ys, xs]] = colour[ys, xs]
    return np.asarray(table[label], np.float32)


def grown_from(found: NDArray[np.bool_], candidates: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The ``candidates`` connected (8-neighbours) through candidates to within 1 px of ``found``."""
    n, label = cv2.connectedComponents(candidates.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros(candidates.shape, bool)
    near = cv2.dilate(found.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    touching = np.zeros(n, bool)
    touching[label[near & candidates]] = True
    touching[0] = False
    return np.asarray(touching[label], bool)


def light_tails_in_mask(image: Image, plate: Image, mask: Mask, light: EffectLight, bright: NDArray[np.float32],
                        not_darker: NDArray[np.float32], palette: Palette, fill_share: float) -> None:
    """Add to ``light`` (in place) the light inside ``mask`` read against ``plate`` (frame-aligned) that
    continues the light already found (strength >= 0.25) and whose colour is not one of ``palette``'s
    fills (share under ``fill_share``). ``bright``: the separator's absolute-brightness gate per pixel;
    ``not_darker``: its never-darker ramp of ``image`` against ``plate``."""
    found = light.strength >= 0.25
    if not found.any() or not np.any(mask):
        return
    colour = nearest_colour(light.strength, light.colour)
    delta = image.astype(np.float32) - plate.astype(np.float32)
    strength = project_light(delta, image, colour)
    candidates = np.asarray(mask, bool) & (strength >= 0.25) & (not_darker > 0.5) & (bright > 0) & ~found
    ys, xs = np.nonzero(candidates)
    if len(ys):
        fill = palette.share(image[ys, xs]) >= fill_share
        candidates[ys[fill], xs[fill]] = False
    tails = grown_from(found, candidates)
    if not tails.any():
        return
    light.strength[tails] = strength[tails]
    light.colour[tails] = np.clip(np.rint(colour[tails]), 0, 255).astype(np.uint8)
