"""Effects as an RGBA light layer: a colour per effect and a strength per pixel.

Anime glows, sparks and speed lines are composited additively ("add" / "linear dodge"): the frame is
the layer under the light (plate and characters) plus ``strength * colour``, clipped at white. Once
the under-layer is known (`effects.ClassicalEffectSeparator` models it), each effect's colour is the
direction in which its strong pixels moved away from it, and the strength of every pixel is that
pixel's change projected on the colour. Reading strength from luminance instead would give white
light 1.8x the strength of pink light of the same alpha.

The colour is stored at full brightness (its largest channel 255): a faint light and a strong light
of one hue are the same colour at different strengths, so an effect keeps its colour through its
fade-in and fade-out. The layer composites back as ``under + alpha * rgb`` (see `composite_light`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, SoftMap
from models.classical.morphology import grown_box

SATURATED = 250  # a channel this bright may have been clipped: it says only "at least this much"
WHITE = np.array([255.0, 255.0, 255.0], np.float32)
Box = tuple[int, int, int, int]  # (y0, y1, x0, x1): the pixels [y0, y1) x [x0, x1) of a frame


@dataclass
class EffectLight:
    """One frame's light layer.

    Attributes
    ----------
    strength : SoftMap
        float32 (H, W) in [0, 1], the alpha of the layer.
    colour : Image
        uint8 (H, W, 3), the light's colour at full strength (largest channel 255 where there is light,
        0 elsewhere).
    """

    strength: SoftMap
    colour: Image

    def rgba(self) -> Image:
        """The layer as uint8 RGBA (colour, strength): composite it with an additive blend."""
        a = np.clip(np.rint(self.strength * 255.0), 0, 255).astype(np.uint8)
        return np.dstack([self.colour, a])


def unlit(strength: SoftMap) -> NDArray[np.bool_]:
    """Where the strength is stored as 0 (layers are uint8): no colour is kept there. (``rint(x) == 0``
    is ``|x| <= 0.5`` - rint rounds half to even - without the rounding pass.)"""
    return np.asarray(np.abs(strength * 255.0) <= 0.5)


def clear_unlit(colour: Image, strength: SoftMap) -> None:
    """``colour[unlit(strength)] = 0`` in place, as one multiplication (a boolean index over a 1080p
    colour layer costs 30 ms)."""
    np.multiply(colour, ~unlit(strength)[..., None], out=colour)


def light_colour(delta: NDArray[np.float32], min_pixels: int = 6) -> NDArray[np.float32]:
    """The colour (largest channel 255) of light that moved unclipped pixels by ``delta`` (N, 3).

    The strongest pixels vote: faint ones are mostly the under-layer's error. Too few: white."""
    if len(delta) < min_pixels:
        return WHITE.copy()
    d = np.maximum(delta, 0.0)
    length = d.sum(axis=1)
    strong = length >= np.percentile(length, 60)
    c = (d[strong] * length[strong, None]).sum(axis=0)
    if float(c.max()) <= 0.0:
        return WHITE.copy()
    return np.asarray(c / c.max() * 255.0, np.float32)


def project_light(delta: NDArray[np.float32], image: Image, colour: NDArray[np.float32]) -> SoftMap:
    """Per-pixel strength of light of ``colour`` (..., 3) explaining ``delta`` (frame minus
    under-layer), for an image (H, W, 3) or a list of pixels (N, 3).

    Least squares over the channels that are not clipped; where every channel is clipped, the
    smallest strength that takes the under-layer to white (a lower bound: light over white leaves no
    other trace).
    """
    # Channel by channel: numpy's reductions over a length-3 last axis are ~5x slower, and a sum
    # of three in order is the same float sum.
    ok = [image[..., c] < SATURATED for c in range(3)]
    d = [delta[..., c] for c in range(3)]
    col = [colour[..., c] for c in range(3)]
    num = d[0] * col[0] * ok[0] + d[1] * col[1] * ok[1] + d[2] * col[2] * ok[2]
    den = col[0] * col[0] * ok[0] + col[1] * col[1] * ok[1] + col[2] * col[2] * ok[2]
    fit = num / np.maximum(den, 1.0)
    # A channel the light hardly has (< 8) cannot have been clipped by it.
    reach = [np.where(col[c] >= 8.0, np.maximum(255.0 - (image[..., c].astype(np.float32) - d[c]), 0.0)
                      / np.maximum(col[c], 1.0), 0.0) for c in range(3)]
    s = np.where(ok[0] | ok[1] | ok[2], fit, np.maximum(np.maximum(reach[0], reach[1]), reach[2]))
    return np.asarray(np.clip(s, 0.0, 1.0), np.float32)


def group_labels(detected: SoftMap, floor: float = 0.08, reach: int = 3) -> tuple[int, NDArray[np.int32]]:
    """The groups of `colour_groups`: their count (with the background, label 0) and label map."""
    on: NDArray[np.uint8] = (detected >= floor).astype(np.uint8)
    if reach > 0:
        on = np.asarray(cv2.dilate(on, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))),
                        np.uint8)
    n, lab = cv2.connectedComponents(on, connectivity=8)
    return n, lab.astype(np.int32)


def group_colours(n: int, groups: NDArray[np.int32], delta: NDArray[np.float32]) -> NDArray[np.float32]:
    """The colour table of `colour_groups` from the voting pixels' groups (N,) and changes (N, 3),
    in raster order."""
    table = np.zeros((n, 3), np.float32)
    order = np.argsort(groups, kind="stable")
    bounds = np.searchsorted(groups[order], np.arange(n + 1))
    for k in range(1, n):
        table[k] = light_colour(delta[order[bounds[k] : bounds[k + 1]]])
    return table


def colour_groups(
    detected: SoftMap, delta: NDArray[np.float32], image: Image, floor: float = 0.08, reach: int = 3,
) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
    """Effects as groups of detected light (``detected`` >= ``floor``, grown by ``reach`` px) and each
    group's colour: the label map (0 = none) and a colour table (row k: label k's colour; row 0 black).

    Only unclipped pixels vote for a colour: where a channel reached white, the light's share in it
    is unknown."""
    n, lab = group_labels(detected, floor, reach)
    votes = np.flatnonzero(((detected >= floor) & (image.max(axis=2) < SATURATED)).ravel())
    return lab, group_colours(n, lab.ravel()[votes], delta.reshape(-1, 3)[votes])


def separate_light(
    image: Image, under: Image, detected: SoftMap, keep: SoftMap | None = None, floor: float = 0.08,
    reach: int = 3,
) -> EffectLight:
    """The light layer of ``image`` over the under-layer ``under`` where ``detected`` found effects.

    ``keep`` (optional, in [0, 1]) multiplies the projected strength: what the caller knows is no
    light (character fringe, darkened pixels). ``reach``: see `colour_groups`."""
    h, w = detected.shape
    strength = np.zeros((h, w), np.float32)
    colour = np.zeros((h, w, 3), np.uint8)
    box = light_box(detected, floor, reach)
    if box is None:
        return EffectLight(strength, colour)
    # Light lies only in the groups (`colour_groups`: detections grown by ``reach``), 0 elsewhere:
    # the work is done on their pixels alone, in raster order as the whole frame would give them
    # (the same figures; at 1080p often a tenth of the frame).
    at = np.s_[box[0] : box[1], box[2] : box[3]]
    n, lab = group_labels(detected[at], floor, reach)
    on = np.flatnonzero(lab.ravel())
    groups = lab.ravel()[on]
    img = image[at].reshape(-1, 3)[on]
    delta = img.astype(np.float32) - under[at].reshape(-1, 3)[on].astype(np.float32)
    votes = (detected[at].ravel()[on] >= floor) & (np.maximum(np.maximum(img[:, 0], img[:, 1]), img[:, 2]) < SATURATED)
    table = group_colours(n, groups[votes], delta[votes])
    s = project_light(delta, img, table[groups])
    if keep is not None:
        s = s * keep[at].ravel()[on]
    part = np.zeros(lab.shape, np.float32)
    part.ravel()[on] = s
    strength[at] = part
    colour[at] = np.take(np.clip(np.rint(table), 0, 255).astype(np.uint8), lab, axis=0)  # 4x fancy indexing's speed
    return EffectLight(strength, colour)


def mask_box(mask: NDArray[Any], pad: int = 0) -> Box | None:
    """`morphology.grown_box` of ``mask`` as a `Box`; None when the mask is empty."""
    box = grown_box(mask, pad)
    return None if box is None else (box[0].start, box[0].stop, box[1].start, box[1].stop)


def light_box(detected: SoftMap, floor: float = 0.08, reach: int = 3, margin: int = 0) -> Box | None:
    """The box ``(y0, y1, x0, x1)`` that holds every group of `colour_groups` (detections at
    ``floor`` grown by ``reach``) with ``margin`` px more around them, clipped to the frame; None
    when nothing is detected."""
    return mask_box(detected >= floor, reach + margin)


def composite_light(under: Image, light: EffectLight) -> Image:
    """``under`` with the light added (the additive blend the layer is made for), clipped at white."""
    added = light.strength[..., None] * light.colour.astype(np.float32)
    return np.clip(under.astype(np.float32) + added + 0.5, 0, 255).astype(np.uint8)


def flat_light(shape: tuple[int, ...], strength: float) -> EffectLight:
    """A whole-frame white light (a flash)."""
    h, w = shape[:2]
    return EffectLight(np.full((h, w), strength, np.float32), np.full((h, w, 3), 255, np.uint8))
