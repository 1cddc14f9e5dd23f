"""One object holding two characters' regions: each region goes to the character whose colours it has.

Two characters who touch in a drawing can end up on one object: GrabCut finds one blob and the tracker
gives it one id (the two as one), a character standing behind another shows as a strip that the front
one's object takes (a partly hidden character), or a part of a character (an arm, a hat) reaches the
neighbour's blob and takes the neighbour's id. The shot's grouping and tracking cannot mend it: the ids
are right, the pixels are on the wrong one.

Anime draws a character as flat cel fills bounded by line art, and each character keeps its palette
through the shot (hair, clothes). `split_shared` runs on a shot's whole characters (model scale, after
the grouping, the held parts, the hidden strips and the crossings):

1. each track's palette is learnt from the drawings where it is sizeable (`SIZEABLE` of its largest
   size), from its pixels over `FAR` px from any other character (a boundary drawn a few px off says
   nothing): a histogram of its fill colours (Lab, line art and colour edges left out,
   `enclosure.edges`); a track under `TRACK` of the shot's largest character has none;
2. in every drawing each object is cut into its flat regions (its pixels between the edges); a region
   is another track's seed when `OWN` of its pixels have colours `RATIO` times likelier under that
   track's palette than under its own object's, and likelier there than in the background around the
   characters (a sky seen between two heads, a roof the colour of a hair); the object's own seeds
   likewise; the rest (skin, eye whites: colours both draw in) are undecided;
3. the other track takes its seeds when it is not fully on screen in the drawing (absent, or under
   `SMALL` of its median size: the two as one, a hidden one's strip) and they lie near where the
   nearest drawings that show it whole have it (`REACH`), or when the seeds touch it (a part on the
   neighbour's object); seeds worth under `MIN_SEED` px in all are left alone;
4. an undecided region joins the track when its seeds hold most of its surroundings (`DOMINANT` times
   what the object's own seeds hold, and `BESIDE` of the region's pixels within `BESIDE_PX`): the face
   between a taken hair region and taken clothes goes with them; edges go to the nearest region's side.

An object with no seed of its own colours is left as it is (it may be the other character under the
wrong id: `crossings` handles those). Nothing becomes background, no pixel leaves the characters;
effects and text are left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import maximum_filter

from models.base import Image, Labels
from models.classical.enclosure import edges

APART = 4  # px: a region this near a track touches it
REACH = 0.05  # of the frame's long side: how far a track not fully on screen may be from where the nearest drawings have it
TRACK = 0.3  # of the shot's largest character: a smaller track (a fragment, speed lines) has no palette
SCENERY = 16  # px: the background this near a character is the scenery its objects may hold
FAR = 8  # px: a track's pixels farther than this from any other character teach its palette
SIZEABLE = 0.5  # of a track's largest size in the shot: a drawing where it is this big teaches its palette
SMALL = 0.6  # of its median size: a track this small in a drawing is partly hidden there
RATIO = 6.0  # a colour belongs to one track and not the other when this many times likelier under its palette
SEEN = 0.002  # share of a track's fill a colour bin holds, at least, to be one of its colours
OWN = 0.7  # share of a region's pixels in one track's colours (and not the other's) to make it that track's
DOMINANT = 2.0  # an undecided region joins the track when this many times more of its pixels lie beside its side
BESIDE_PX = 8  # px: a region's pixels this near a seed lie beside it (line art and colour edges between)
BESIDE = 0.2  # share of an undecided region's pixels beside the track's seeds, at least, for it to join
MIN_REGION = 12  # px: smaller regions are undecided
MIN_SEED = 60  # px: the other track's seeds in one object, at least, before any pixel moves
MIN_PIXELS = 64  # a track smaller than this in a drawing is not on screen there
SHIFT = 3  # Lab bits dropped per channel: 32 levels each
Palette = NDArray[np.float64]
Colours = Callable[[int], tuple[NDArray[np.intp], NDArray[np.bool_]]]  # a drawing's colour bins and fill pixels
Where = Callable[[int, int, Labels], NDArray[np.bool_] | None]


def split_shared(labels: Sequence[Labels], images: Sequence[Image], characters: Sequence[set[int]]) -> list[Labels]:
    """``labels`` (one shot's whole characters at model scale, ``images`` its drawings) with each
    object's regions drawn in another track's colours given to that track (module docstring).
    ``characters[i]``: the character ids of drawing ``i``."""
    out = [np.asarray(lab) for lab in labels]
    n = len(out)
    ids = sorted(set().union(*characters)) if characters else []
    if n < 2 or len(ids) < 2:
        return out
    area = {c: np.array([int(np.count_nonzero(lab == c)) if c in characters[i] else 0 for i, lab in enumerate(out)])
            for c in ids}
    bins: dict[int, NDArray[np.intp]] = {}
    fills: dict[int, NDArray[np.bool_]] = {}

    def seen(i: int) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
        if i not in bins:
            image = np.asarray(images[i])
            lab = np.asarray(cv2.cvtColor(image, cv2.COLOR_RGB2LAB), np.uint8) >> SHIFT
            side = 256 >> SHIFT
            bins[i] = (lab[..., 0].astype(np.intp) * side + lab[..., 1]) * side + lab[..., 2]
            fills[i] = ~edges(image)
        return bins[i], fills[i]

    largest = max(int(area[c].max()) for c in ids)
    palettes = {c: p for c in ids if area[c].max() >= TRACK * largest
                and (p := _palette(c, out, characters, area[c], seen)) is not None}
    if len(palettes) < 2:
        return out
    # A colour the background around the characters shows as much as a track draws in is no sign that
    # a region is that track's (a sky seen between two heads, a roof the colour of its hair).
    scenery = _background(out, seen)
    full = {c: area[c] >= SMALL * float(np.median(area[c][area[c] >= MIN_PIXELS])) for c in palettes}
    reach = max(APART, round(REACH * max(out[0].shape)))
    grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    touch = np.ones((2 * APART + 1, 2 * APART + 1), np.uint8)

    def where(i: int, c: int, lab: Labels) -> NDArray[np.bool_] | None:
        """Where track ``c`` may take pixels in drawing ``i``: beside itself when fully on screen
        there, else near where the nearest drawings that show it whole have it."""
        if full[c][i]:
            return np.asarray(cv2.dilate((lab == c).astype(np.uint8), touch) > 0)
        shown = np.flatnonzero(full[c])
        before, after = shown[shown < i], shown[shown > i]
        near = np.zeros(lab.shape, bool)
        for j in ([int(before[-1])] if len(before) else []) + ([int(after[0])] if len(after) else []):
            near |= cv2.dilate((out[j] == c).astype(np.uint8), grow) > 0
        return near if near.any() else None

    result = []
    for i, lab in enumerate(out):
        present = [c for c in characters[i] if area[c][i] >= MIN_PIXELS and c in palettes]
        new = lab
        for a in present:
            new = _split_object(new, a, i, palettes, scenery, seen, where)
        result.append(new)
    return result


def _background(labels: Sequence[Labels], seen: Colours) -> Palette:
    """The shot's background colours near its characters (bin shares, smoothed as the palettes)."""
    side = 256 >> SHIFT
    hist = np.zeros(side ** 3, np.float64)
    for i, lab in enumerate(labels):
        fg = lab > 0
        if not fg.any():
            continue
        near = (cv2.distanceTransform((~fg).astype(np.uint8), cv2.DIST_L2, 3) <= SCENERY) & ~fg
        b, fill = seen(i)
        counts = np.bincount(b[near & fill], minlength=side ** 3)
        if counts.sum():
            hist += counts / counts.sum()
    if hist.any():
        hist /= hist.sum()
    return np.asarray(maximum_filter(hist.reshape(side, side, side), size=3, mode="constant").ravel())


def _palette(c: int, labels: Sequence[Labels], characters: Sequence[set[int]], area: NDArray[np.int64],
             seen: Colours) -> Palette | None:
    """Track ``c``'s colour histogram (bin shares, lightly smoothed) from the drawings where it stands
    apart and is sizeable; None when there is no such drawing."""
    if area.max() < MIN_PIXELS:
        return None
    side = 256 >> SHIFT
    hist = np.zeros(side ** 3, np.float64)
    for i, lab in enumerate(labels):
        if area[i] < max(MIN_PIXELS, SIZEABLE * area.max()):
            continue
        own = lab == c
        others = np.isin(lab, list(characters[i] - {c}))
        if others.any():  # pixels near another character may be its (a boundary drawn off)
            own &= cv2.distanceTransform((~others).astype(np.uint8), cv2.DIST_L2, 3) > FAR
        b, fill = seen(i)
        counts = np.bincount(b[own & fill], minlength=side ** 3)
        if counts.sum():
            hist += counts / counts.sum()
    if not hist.any():
        return None
    # A colour one level off (compression, anti-aliasing) is the same colour.
    hist /= hist.sum()
    return np.asarray(maximum_filter(hist.reshape(side, side, side), size=3, mode="constant").ravel())


def _split_object(lab: Labels, a: int, i: int, palettes: dict[int, Palette], scenery: Palette, seen: Colours,
                  where: Where) -> Labels:
    """Drawing ``i``'s labels with object ``a``'s regions in another track's colours given to it."""
    own = lab == a
    b, fill = seen(i)
    inner = own & fill
    n_reg, regions = cv2.connectedComponents(inner.astype(np.uint8), connectivity=4)
    if n_reg < 3:
        return lab
    reg = regions[inner]
    colours = b[inner]
    size = np.bincount(reg, minlength=n_reg).astype(np.float64)
    big = size >= MIN_REGION
    big[0] = False
    pa = palettes[a][colours]
    bg = scenery[colours]
    best: tuple[float, int, NDArray[np.bool_], NDArray[np.bool_]] | None = None
    for c, pc in palettes.items():
        if c == a:
            continue
        p = pc[colours]
        share_c = np.bincount(reg, weights=(p >= SEEN) & (p > RATIO * pa) & (p > bg), minlength=n_reg) / np.maximum(size, 1)
        take = (share_c >= OWN) & big
        if float(size[take].sum()) < MIN_SEED:
            continue
        allowed = where(i, c, lab)
        if allowed is None:
            continue
        inside = np.zeros(n_reg, bool)
        inside[np.unique(regions[allowed & inner])] = True
        take &= inside
        gained = float(size[take].sum())
        if gained >= MIN_SEED and (best is None or gained > best[0]):
            share_a = np.bincount(reg, weights=(pa >= SEEN) & (pa > RATIO * p), minlength=n_reg) / np.maximum(size, 1)
            best = (gained, c, take, (share_a >= OWN) & big)
    if best is None or not best[3].any():
        return lab
    _, c, take, seeds_a = best
    # Undecided regions (colours both draw in) go to the side whose seeds hold most of their surroundings; what is left (edges, slivers) to the nearest region.
    side_of = np.zeros(n_reg, np.uint8)
    side_of[seeds_a] = 1
    side_of[take] = 2
    undecided = big & (side_of == 0)
    kernel = np.ones((2 * BESIDE_PX + 1, 2 * BESIDE_PX + 1), np.uint8)
    for _ in range(2):  # twice: a region between two taken ones, then the next
        seed_mask = side_of[regions] * inner
        near_a = cv2.dilate((seed_mask == 1).astype(np.uint8), kernel)[inner]
        near_c = cv2.dilate((seed_mask == 2).astype(np.uint8), kernel)[inner]
        votes_a = np.bincount(reg, weights=near_a, minlength=n_reg)
        votes_c = np.bincount(reg, weights=near_c, minlength=n_reg)
        joins = undecided & (votes_c > DOMINANT * votes_a) & (votes_c >= BESIDE * size)
        if not joins.any():
            break
        side_of[joins] = 2
        undecided &= ~joins
    side_of[undecided] = 1
    seed_mask = side_of[regions] * inner
    _, nearest = cv2.distanceTransformWithLabels((seed_mask == 0).astype(np.uint8), cv2.DIST_L2, 3,
                                                 labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(seed_mask)
    which = np.zeros(int(nearest.max()) + 1, np.uint8)
    which[nearest[ys, xs]] = seed_mask[ys, xs]
    goes = own & (which[nearest] == 2)
    out = lab.copy()
    out[goes] = c
    return out

