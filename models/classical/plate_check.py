"""A second look at a shot's character masks against a plate stitched without the characters.

The segmenter's own plate is a plain median of the shot, which for a slowly moving character holds
the character itself; once the shot has labels, the background can be stitched through the camera
from the pixels outside every (grown) mask only. Where frames saw a plate pixel there and agreed on
it, that pixel is known background. In each frame, a connected run of a character's mask whose
pixels all match that known background, and which reaches the mask's outside, is background the
mask took in (GrabCut keeps its hull and box priors' blocks beside a character): it is cut. A
character's line art never matches the plate, so the run stops at the character's outline, and a
flat colour of the character that happens to match the plate inside that outline is not reached.

The median of the frames that saw a pixel outside their masks is polluted where most of them show
something else there (the character's own parts its lagging masks missed where it arrived, light
passing over, a textured wall a pixel off): a pixel a character's mask took in is also known
background when one of the shot's nearest `NEAREST` other frames showed the same colour at that place
of the plate outside its (grown) masks (`seen_elsewhere`) - where a character moved on, the frames
before or after it saw the wall it left.

Where a mask missed a part of its character in some frame, the plate learns that part; two guards
keep it: a character standing still (its edges unchanged a few drawings away) is not cut at all,
and a run that continues the rest of its mask in one colour (no line art between) is kept.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Labels
from models.classical.filters import colour_distance
from models.classical.geometry import Matrix, from_origin, model_scale, rescale_transform, resize
from models.classical.inpaint import stray_frames
from models.classical.plate import masked_median, plate_size, plate_stack, sample_indices, warp_to_frame

GROW = 2  # px at model scale the masks are grown by before their frames enter the plate (soft edges)
TOLERANCE = 10.0  # Lab difference (uint8 Lab) under which a pixel shows the plate (codec noise, blur)
# Frames that must have seen a plate pixel as background, agreeing. One is enough: the false blocks
# travel with their character, so most of them were outside every mask in one frame at most
# (tuning seeds: 2 -> 1 took the false plain background 0.077 -> 0.068 of true, missed unchanged).
MIN_SEEN = 1
# A character whose edges in a frame are this still (the same at the same place of the plate
# `NEIGHBOUR` drawings away) keeps its mask: where a still character's mask missed a part of it in
# some frame, the plate holds that part (onepiece_demo.mp4: Coby, edges 0.86-1.0 still; the moving
# characters of the tuning seeds 0.05-0.56).
STILL = 0.8
NEIGHBOUR = 2  # drawings
EDGE = 80.0  # grey gradient (Sobel) of an edge
# A run is kept when more than this share of its border with the rest of its mask is one colour
# across (Luffy's hat brim, learnt by the plate in frames his mask missed it); background beside a
# character meets it at the line art. Tuning seeds: 0.3 / 0.5 / 0.7 / off gave character IoU
# 0.599 / 0.601 / 0.604 / 0.605; onepiece_demo.mp4 lost 1.4 k / 2.8 k / 34 k / 55 k px of Luffy.
CONTINUOUS = 0.5
MIN_AGREE = 0.7  # share of the frames that saw it which agree with the median
# Other frames (the nearest in the shot) that `seen_elsewhere` compares a frame with. Tuning seeds: the
# false plain background is, in the other frames, under a true character 47 % of the time and under
# light 17 %; 39 % of it was seen outside every mask with the same colour by one other frame, 1 % of
# the characters' own pixels (the runs from outside and the guards keep those).
NEAREST = 16


def known_plate(
    smalls: Sequence[Image], transforms: Sequence[Matrix], masks: Sequence[NDArray[np.bool_]], s: float,
    frame_shape: tuple[int, ...], max_frames: int = 40,
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """The shot's plate in Lab (plate coordinates at scale ``s``) from the pixels outside ``masks``,
    and where it is known: seen by >= `MIN_SEEN` frames, >= `MIN_AGREE` of them within `TOLERANCE`."""
    ph, pw = plate_size(transforms, frame_shape, s)
    idx = sample_indices(len(smalls), max_frames)
    grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * GROW + 1, 2 * GROW + 1))
    stack, valid = plate_stack([smalls[i] for i in idx], [rescale_transform(np.asarray(transforms[i]), s) for i in idx],
                               [cv2.dilate(masks[i].astype(np.uint8), grow) > 0 for i in idx], (0, 0, pw, ph))
    for k in range(len(idx)):
        stack[k] = cv2.cvtColor(stack[k], cv2.COLOR_RGB2LAB)
    plate = masked_median(stack, valid).astype(np.float32)
    seen = valid.sum(axis=0)
    agree = np.zeros((ph, pw), np.int32)
    for k in range(len(idx)):
        agree += valid[k] & (colour_distance(stack[k].astype(np.float32), plate) <= TOLERANCE)
    return plate, (agree >= MIN_SEEN) & (agree >= MIN_AGREE * seen)


def check_shot(
    frames: Sequence[Image], labels: Sequence[Labels], kinds: Sequence[dict[int, str]], transforms: Sequence[Matrix],
) -> list[Labels]:
    """``labels`` with each character's runs of known background cut (see the module docstring);
    ``transforms`` are the shot's camera (frame to plate). Other kinds (text, effects) stay."""
    if len(frames) < 2:
        return [np.asarray(lab) for lab in labels]
    shape = frames[0].shape
    s = model_scale(shape)
    transforms = from_origin(transforms, shape)
    smalls = [resize(np.asarray(f), s) for f in frames]
    small_shape = smalls[0].shape[:2]
    small_labels = [np.asarray(cv2.resize(np.asarray(lab), small_shape[::-1], interpolation=cv2.INTER_NEAREST), np.uint8)
                    for lab in labels]
    # A flash or an impact frame is no view of the wall: its white would witness a white coat.
    strays = set(stray_frames(frames, transforms, [np.asarray(lab) > 0 for lab in labels]))
    return _cut(smalls, [np.asarray(lab) for lab in labels], small_labels, kinds, transforms, s, shape, strays)


def _cut(
    smalls: Sequence[Image], labels: list[Labels], small_labels: list[Labels], kinds: Sequence[dict[int, str]],
    transforms: Sequence[Matrix], s: float, shape: tuple[int, ...], strays: Collection[int] = (),
) -> list[Labels]:
    plate, known = known_plate(smalls, transforms, [lab > 0 for lab in small_labels], s, shape)
    known_u8 = known.astype(np.uint8)
    labs = [cv2.cvtColor(np.asarray(small), cv2.COLOR_RGB2LAB).astype(np.float32) for small in smalls]
    out = []
    for i, lab in enumerate(labels):
        characters = [k for k, v in kinds[i].items() if v == "character"]
        if not characters:
            out.append(lab)
            continue
        here = warp_to_frame(plate, transforms[i], shape, s)
        sure = warp_to_frame(known_u8, transforms[i], shape, s, cv2.INTER_NEAREST) > 0
        lab_small = labs[i]
        shows = sure & (colour_distance(lab_small, here) <= TOLERANCE)
        shows |= seen_elsewhere(labs, small_labels, transforms, s, i, strays)
        movers = [k for k in characters if _still_share(smalls, small_labels, transforms, s, i, k) < STILL]
        cut = _runs_from_outside(small_labels[i], movers, shows, lab_small) if movers else np.zeros(shows.shape, bool)
        if not cut.any():
            out.append(lab)
            continue
        full = cv2.resize(cut.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST) > 0
        new = np.array(lab, copy=True)
        new[full & np.isin(new, characters)] = 0
        out.append(new)
    return out


def seen_elsewhere(
    labs: Sequence[NDArray[np.float32]], small_labels: Sequence[Labels], transforms: Sequence[Matrix], s: float, i: int,
    strays: Collection[int] = (),
) -> NDArray[np.bool_]:
    """Pixels of frame ``i`` (model scale, ``labs`` in Lab) whose colour one of the `NEAREST` other
    frames showed, within `TOLERANCE`, at the same place of the plate and outside its masks grown by
    `GROW` (``small_labels``: every object; outside a frame counts as masked), and another of them did
    not: something passed there (the character, light). A pixel the same in every frame that saw it
    is left to the median - it may be a still part of a character its first masks missed. ``strays``
    (`inpaint.stray_frames`: flashes, impact frames) are no witnesses."""
    h, w = small_labels[i].shape
    grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * GROW + 1, 2 * GROW + 1))
    seen = np.zeros((h, w), bool)
    differs = np.zeros((h, w), bool)
    others = sorted((j for j in range(len(labs)) if j != i and j not in strays), key=lambda j: abs(j - i))[:NEAREST]
    for j in others:
        m = rescale_transform(np.linalg.inv(np.asarray(transforms[i])) @ np.asarray(transforms[j]), s)[:2]
        masked = cv2.dilate((np.asarray(small_labels[j]) > 0).astype(np.uint8), grow)
        free = cv2.warpAffine(masked, m, (w, h), flags=cv2.INTER_NEAREST, borderValue=1) == 0
        inside = cv2.warpAffine(np.ones((h, w), np.uint8), m, (w, h), flags=cv2.INTER_NEAREST) > 0
        there = np.asarray(cv2.warpAffine(np.asarray(labs[j]), m, (w, h), flags=cv2.INTER_LINEAR), np.float32)
        same = colour_distance(labs[i], there) <= TOLERANCE
        seen |= free & same
        differs |= inside & ~same
    return seen & differs


def _still_share(
    smalls: Sequence[Image], small_labels: Sequence[Labels], transforms: Sequence[Matrix], s: float, i: int, k: int,
) -> float:
    """The share of character ``k``'s edges in frame ``i`` (line art, colour edges) that the frames
    `NEIGHBOUR` drawings away show unchanged at the same place of the plate: near 1 for a character
    that stands still (its mask may have missed a part of it in some frame, which the plate then
    holds), low for one that moves (its outline has moved on)."""
    grey = cv2.cvtColor(np.asarray(smalls[i]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    edges = (small_labels[i] == k) & (np.hypot(cv2.Sobel(grey, -1, 1, 0), cv2.Sobel(grey, -1, 0, 1)) > EDGE)
    if int(edges.sum()) == 0:
        return 0.0
    here = cv2.cvtColor(np.asarray(smalls[i]), cv2.COLOR_RGB2LAB).astype(np.float32)
    h, w = grey.shape
    shares = []
    for j in {max(0, i - NEIGHBOUR), min(len(smalls) - 1, i + NEIGHBOUR)} - {i}:
        m = rescale_transform(np.linalg.inv(np.asarray(transforms[i])) @ np.asarray(transforms[j]), s)[:2]
        there = cv2.warpAffine(np.asarray(smalls[j]), m, (w, h), flags=cv2.INTER_LINEAR)
        inside = cv2.warpAffine(np.full((h, w), 255, np.uint8), m, (w, h), flags=cv2.INTER_NEAREST) > 0
        same = colour_distance(here, cv2.cvtColor(there, cv2.COLOR_RGB2LAB).astype(np.float32)) <= TOLERANCE
        seen = edges & inside
        if seen.any():
            shares.append(float((seen & same).sum()) / float(seen.sum()))
    return max(shares, default=0.0)


def _runs_from_outside(
    labels: Labels, characters: list[int], shows: NDArray[np.bool_], lab: NDArray[np.float32],
) -> NDArray[np.bool_]:
    """Pixels of the ``characters``' masks that show the known plate and are joined, through such
    pixels, to a pixel outside every mask; a run whose border with the rest of its mask is mostly
    one colour across (no line art between: a part of the character the plate holds) is kept."""
    candidate = (np.isin(labels, characters) & shows).astype(np.uint8)
    if not candidate.any():
        return np.zeros(labels.shape, bool)
    outside = cv2.dilate((labels == 0).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    count, runs = cv2.connectedComponents(candidate, connectivity=4)
    reached = np.zeros(count, bool)
    reached[np.unique(runs[outside & (candidate > 0)])] = True
    reached[0] = False
    # Pairs of 4-neighbours, one in a run, one in the rest of its mask: the same colour across
    # means the run continues the character (a part the plate learnt where the mask missed it).
    rest = np.isin(labels, characters) & (candidate == 0)
    pairs = np.zeros(count, np.int64)
    smooth = np.zeros(count, np.int64)
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        moved = np.roll(runs, (dy, dx), axis=(0, 1))  # the run id of each pixel's neighbour
        if dy:  # the row rolled in from the far side has no neighbour
            moved[0 if dy == 1 else -1, :] = 0
        if dx:
            moved[:, 0 if dx == 1 else -1] = 0
        near = rest & (moved > 0)
        same = near & (colour_distance(lab, np.roll(lab, (dy, dx), axis=(0, 1))) <= TOLERANCE)
        pairs += np.bincount(moved[near], minlength=count)
        smooth += np.bincount(moved[same], minlength=count)
    reached &= smooth <= CONTINUOUS * np.maximum(pairs, 1)
    return np.asarray(reached[runs])
