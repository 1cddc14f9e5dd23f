"""Pieces of a shot's background that stage 1 tracked as objects: not registered as characters.

GrabCut's box and hull priors leave blocks of background beside a character (often lit by a glow or
speed lines, so the plate check does not cut them: `plate_check`), which a split of the blob
(`tracking.split_merged`, `split_hidden`) or the tracker then gives an id of their own, as it does a
building's roof the background model was unsure of. Each became a "Character N" the user had to
delete by hand and a character in every export (2-5 per generated clip, 1-3 frames each: docs/results.md,
issue #9, "On the merged main (stop 28)").

Such a piece is judged by what it shows, not by how long it lasts (a character may pass in one
frame): where the shot's other drawings show that place of the scene (through the camera) outside
every mask, a piece of background shows the same colours as they do, and a character does not (it
is drawn over the background, in its own colours and line art). Only drawings where the track is
absent are asked: where it is present, what its mask left out is the character itself (a mask that
missed a body in one drawing), not background. A track present in at least half the drawings of its
shot is never judged background (a character the segmenter missed in the other half shows there outside
every mask), nor is a drawing with no character at all a witness. A piece under added light (a glow,
speed lines) shows the other drawings' colours brighter, of the same hue and no more chroma
(`lit_over`); counted with the same colours it must reach a higher share (`LIT`), since a character
may be drawn in a lighter shade of the background's hue.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from models.base import Image, Labels
from models.classical.filters import colour_distance
from models.classical.geometry import Matrix, from_origin, model_scale, rescale_transform, resize

TOLERANCE = 10.0  # Lab distance (uint8 Lab) under which two drawings show the same colour (codec noise)
OTHERS = 12  # other drawings of the shot compared with each drawing, spread over the shot
GROW = 2  # px (model scale) the other drawings' masks are grown by: their soft edges are no background
# A piece is background when other drawings show its own colours, at its place of the scene, on at
# least this share of its pixels (tuning seeds 11-14, 20-30: character tracks 0-5 %, the background
# pieces caught 20-67 %).
SAME = 0.15
# Or on this share of its pixels the other drawings' colours or them under added light (`lit_over`):
# tuning seeds 11-14, 20-30, the character tracks judged <= 0.10, the pieces under light caught 0.39-0.86.
LIT = 0.3
BRIGHTER = 5.0  # uint8 Lab L levels: brighter than the other drawing by more than this is lit
CHROMA = 6.0  # uint8 Lab a/b distance from grey: below it a colour has no hue to compare
HUE_COS = 0.97  # cosine of the hue angle between the two colours (about 14 degrees)


def background_tracks(
    frames: Sequence[Image], labels: Sequence[Labels], kinds: Sequence[dict[int, str]], transforms: Sequence[Matrix],
) -> set[int]:
    """Character tracks of one shot that are pieces of its background (see the module docstring):
    the same colours on `SAME` of their pixels, or those colours or them under added light on `LIT`;
    ``transforms``: the shot's camera (frame to plate), one per frame."""
    evidence = track_evidence(frames, labels, kinds, transforms)
    return {t for t, (area, _, same, lit) in evidence.items() if same >= SAME * area or lit >= LIT * area}


def lit_over(colours: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Where ``colours`` (uint8 Lab as float) are ``other``'s under added light: brighter (`BRIGHTER`),
    of the same hue (`HUE_COS`) and no more chroma (light adds white: a glow's halo, speed lines);
    both coloured (`CHROMA`), since a grey's hue says nothing - a white shirt over grey would pass."""
    ca, cb = colours[..., 1:] - 128.0, other[..., 1:] - 128.0
    na, nb = np.hypot(ca[..., 0], ca[..., 1]), np.hypot(cb[..., 0], cb[..., 1])
    cos = (ca * cb).sum(axis=-1) / np.maximum(na * nb, 1e-3)
    return np.asarray((colours[..., 0] > other[..., 0] + BRIGHTER) & (na <= nb + CHROMA) & (cos > HUE_COS)
                      & (na >= CHROMA) & (nb >= CHROMA))


def track_evidence(
    frames: Sequence[Image], labels: Sequence[Labels], kinds: Sequence[dict[int, str]], transforms: Sequence[Matrix],
) -> dict[int, tuple[int, int, int, int]]:
    """Per character track that some drawing of the shot is without: its pixels over the shot (model
    scale), those that such drawings see outside every mask, those of them whose colour one of them
    shows there too, and those whose colour one of them shows there too or under added light (`lit_over`)."""
    area: dict[int, int] = {}
    seen_px: dict[int, int] = {}
    same_px: dict[int, int] = {}
    lit_px: dict[int, int] = {}
    n = len(frames)
    if n < 2:
        return {}
    shape = frames[0].shape
    s = model_scale(shape)
    moves = [rescale_transform(t, s) for t in from_origin(transforms, shape)]
    smalls = [resize(np.asarray(f), s) for f in frames]
    h, w = smalls[0].shape[:2]
    small_labels = [np.asarray(cv2.resize(np.asarray(lab), (w, h), interpolation=cv2.INTER_NEAREST), np.uint8)
                    for lab in labels]
    lab_images = [cv2.cvtColor(x, cv2.COLOR_RGB2LAB) for x in smalls]
    grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * GROW + 1, 2 * GROW + 1))
    free = [(cv2.dilate((lab > 0).astype(np.uint8), grow) == 0).astype(np.uint8) for lab in small_labels]
    present = [{int(t) for t in np.unique(lab) if t} for lab in small_labels]
    characters = {t for k in kinds for t, v in k.items() if v == "character"}
    # A track most drawings of the shot hold is a thing of the shot (a character the segmenter missed
    # in a few drawings: those show it outside every mask), never judged: background pieces are brief.
    held = {t: sum(t in p for p in present) for t in characters}
    # A drawing where stage 1 found no character at all is a failed drawing, no witness of background.
    witnesses = {j for j in range(n) if present[j] & characters}
    for i in range(n):
        here = small_labels[i]
        others = [j for j in _others(n, i) if j in witnesses]
        # Only the tracks some other drawing is without can be judged.
        ids = sorted(t for t in present[i] & characters
                     if 2 * held[t] < n and any(t not in present[j] for j in others))
        if not ids:
            continue
        ys, xs = np.nonzero(np.isin(here, ids))
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        box = (x1 - x0, y1 - y0)
        mine = here[y0:y1, x0:x1]
        colours = lab_images[i][y0:y1, x0:x1].astype(np.float32)
        seen = {t: np.zeros(mine.shape, bool) for t in ids}
        same = {t: np.zeros(mine.shape, bool) for t in ids}
        lit = {t: np.zeros(mine.shape, bool) for t in ids}
        for j in others:
            if set(ids) <= present[j]:
                continue
            # Frame j's pixels brought into frame i's box: frame i -> plate -> frame j.
            m = np.linalg.inv(moves[j]) @ moves[i] @ np.array([[1.0, 0, x0], [0, 1.0, y0], [0, 0, 1.0]])
            there = cv2.warpAffine(free[j], m[:2], box, flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
            if not there.any():
                continue
            other = cv2.warpAffine(lab_images[j], m[:2], box, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                   borderMode=cv2.BORDER_REPLICATE)
            other_colours = other.astype(np.float32)
            match = there & (colour_distance(colours, other_colours) <= TOLERANCE)
            brighter = there & ~match & lit_over(colours, other_colours)
            for t in ids:
                # A drawing that shows the track itself says nothing of it: what its mask left out
                # there is the same character (a mask that missed a body in a drawing), not background.
                if t not in present[j]:
                    seen[t] |= there
                    same[t] |= match
                    lit[t] |= brighter
        for t in ids:
            piece = mine == t
            area[t] = area.get(t, 0) + int(piece.sum())
            seen_px[t] = seen_px.get(t, 0) + int((piece & seen[t]).sum())
            same_px[t] = same_px.get(t, 0) + int((piece & same[t]).sum())
            lit_px[t] = lit_px.get(t, 0) + int((piece & (same[t] | lit[t])).sum())
    return {t: (area[t], seen_px[t], same_px[t], lit_px[t]) for t in area}


def _others(n: int, i: int) -> list[int]:
    """Up to `OTHERS` other frames of an ``n``-frame shot, spread over it."""
    rest = [j for j in range(n) if j != i]
    if len(rest) <= OTHERS:
        return rest
    return [rest[k] for k in np.linspace(0, len(rest) - 1, OTHERS).round().astype(int)]

