"""Anime faces from a pair of eyes, with no weights: the face boxes where the face cascade is absent.

The segmenter's faces come from nagadomi's cascade (`faces.AnimeFaceDetector`), a download; without
it, characters standing side by side were one object (no two faces to split their blob by). An anime
eye is drawn the same way in almost every style: a dark pupil, the darkest thing in the face, inside a
coloured iris, with a white sclera or highlight beside it; a face holds two of them at the same height,
irises of one colour, skin between. `eye_pair_faces` finds such pairs inside a mask and gives each a
face box in the cascade's framing; the segmenter takes them as it takes the cascade's faces
(`ClassicalSegmenter._detect_faces`: carried through the shot, GrabCut's seeds, then the face rules
`tracking.split_merged`, `tracking.split_hidden` and the shot's grouping keep two characters apart).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image
from models.classical.faces import Box
from models.classical.geometry import Matrix

# A pupil is darker than this share of the brightest lightness around it (skin, sclera, highlight):
# at 0.4 the iris's shaded top and the lash line joined it into one blob (a face found on 79 of the
# 260 characters' drawings of tuning seeds 11-14); at 0.3 on 144 (4 given a second pair, none on
# the background; the cascade: 187), at 0.2 on 146.
PUPIL_DARK = 0.3
# The neighbourhood "around" a pupil, as a share of the picture's short side (a face's width or so).
AROUND = 1 / 20
# A pupil's largest side, as a share of the picture's short side (a close-up's eye is a tenth of it).
PUPIL_MAX = 1 / 12
# Sclera and highlights are white: bright and without colour (skin is as bright, with colour: 14-18).
WHITE_L = 200.0
WHITE_CHROMA = 6.0
# A video's chroma is kept at half size (H.264's 4:2:0), so a small highlight beside a coloured iris
# takes on some of its colour: on `eval layers`' H.264 clips of tuning seeds 61-72 (no cascade), of
# the 528 character drawings where the cascade finds a face, eye pairs found 191 with whites up to 6,
# 326 up to 9, 423 up to 12, 457 up to 16; boxes on no cascade face 17, 33, 45, 58 (about half of them
# faces the cascade missed, the rest hands, shoes, impact frames). On lossless frames (the 300
# drawings of segment_generated's tuning seeds) 12 changed the pairs of faces already found (a
# highlight taken for a pupil, an eye of each of two faces): character IoU 0.707 -> 0.697. So the
# tinted whites are a second look, for faces where the first found none.
TINTED_WHITE_CHROMA = 12.0
# Two eyes of one face: pupils this many pupil sizes apart, at one height, irises of one colour
# (Lab units), the skin between them brighter than the irises by this much. A pupil's dark blob takes
# in the iris's shaded top: the generator's faces are 2.8-3.0 pupil sizes apart and their two rings
# 30-70 apart where a lash or the hair's shadow falls on one (on the 420 drawings of tuning seeds
# 11-14, 20-25 with both eyes in sight: (3.0, 30) found 283 characters, (2.5, 45) 342, none on the
# background; looked for in the whole picture, 4 on the background).
SPACING = (2.5, 10.0)
SAME_IRIS = 45.0
SKIN_OVER_IRIS = 20.0
# The cascade's box around a face, in eye distances (fitted on 99 faces of the tuning seeds that both
# found: box side 2.98 [2.78, 3.17], centre 0.18 [0.12, 0.25] below the eyes).
FACE_SIDE = 3.0
FACE_BELOW_EYES = 0.18
# A face is about the size of its character's face in the shot's other drawings (a walk or a zoom
# changes it little from drawing to drawing). The pairs in a character's bangs - dark gaps between
# strand tips, the forehead's skin between them, a highlight or an effect's streak for the white -
# are a third to a half of the face they sit over (on the 20 tuning seeds 11-14, 20-35: 7 of the 9
# pairs found on a character away from its eyes, 15-31 px against 44-60), and their small box cut the
# character in two objects (11@20, 12@20). At 1.7 `shot_sized_faces` refuses 7 of those 9, 9 of the
# 677 true faces (17-37 px boxes on the eyes, under faces 1.7 or more times bigger elsewhere in the
# shot) and none of the 11 on the background.
SMALLER_THAN_SHOT = 1.7
# The second look's false boxes, judged against the faces of the box's own track: the faces of the
# shot's other drawings that hold its centre (through the camera). Two dark blobs of one face paired
# wrongly give a box a fifth to two thirds of that face, off its middle, and its small face column cut
# the character in two tracks (68's second shot); a pair on the background (impact frames, windows),
# a hand or a shoe is mostly found in one drawing and in no other there. On the decoded drawings of
# `eval layers`' H.264 clips of tuning seeds 61-72 (no cascade; placed without the camera), of the
# tinted look's 265 boxes: on a cascade face of about its size 201, every one with a face of another
# drawing over it and none under 2/3 of those faces (at 0.7: one); inside a cascade face, under 0.7 of
# it, 36: 33 under 2/3; on a character with no cascade face (hands, shoes) 13: 7 with no face over
# them, 3 more under 2/3; on the background 15: 11 with no face over them. The whole shot's median
# first-look face in its place (round 21's rule) kept 200, 4, 3 and 14 of them. `eval layers` no
# cascade, tuning seeds 61-72 and 46-51: character IoU 0.6407 -> 0.6525, fragmentation 1.097 -> 1.08.
TINTED_OF_OWN = 2 / 3


@dataclass(frozen=True)
class _Pupil:
    x: float
    y: float
    size: float
    area: int
    iris: NDArray[np.float32]  # median Lab around the pupil


def eye_pair_faces(image: Image, foreground: NDArray[np.bool_]) -> list[Box]:
    """Face boxes ``(x, y, w, h)`` of the eye pairs inside ``foreground`` of ``image`` (RGB uint8), sorted;
    no two overlap (a face cut in two splits its character)."""
    first, tinted = eye_pair_looks(image, foreground)
    return sorted(first + tinted)


def eye_pair_looks(image: Image, foreground: NDArray[np.bool_]) -> tuple[list[Box], list[Box]]:
    """`eye_pair_faces`' boxes by look: those with white whites, then those the tinted whites add."""
    lab = np.asarray(cv2.cvtColor(image, cv2.COLOR_RGB2LAB), np.float32)
    faces: list[Box] = []
    eyes: list[tuple[float, float]] = []  # the midpoint between each face's eyes
    _add_faces(lab, foreground, _pupils(lab, foreground, WHITE_CHROMA), faces, eyes)
    first = len(faces)
    _add_faces(lab, foreground, _pupils(lab, foreground, TINTED_WHITE_CHROMA), faces, eyes)
    return faces[:first], faces[first:]


def tinted_sized_faces(looks: Sequence[tuple[list[Box], list[Box]]], transforms: Sequence[Matrix],
                       pictures: Sequence[int] | None = None) -> list[list[Box]]:
    """Per drawing of a shot (``looks`` from `eye_pair_looks`; ``transforms`` map each drawing to the
    plate), its faces, sorted: every first-look box, and a tinted-look box only where faces (of either
    look) of other pictures of the shot hold its centre, and it is `TINTED_OF_OWN` of their median side at
    least. ``pictures`` numbers each drawing's picture (a held frame repeats its drawing's number and
    holds no face over it for it); by default each drawing is its own."""
    pictures = list(range(len(looks))) if pictures is None else list(pictures)
    placed = [[(*_to_plate(t, b), b[2]) for b in first + tinted] for (first, tinted), t in zip(looks, transforms, strict=True)]
    out = []
    for i, (first, tinted) in enumerate(looks):
        kept = list(first)
        for box in tinted:
            x, y = _to_plate(transforms[i], box)
            own = [s for j, others in enumerate(placed) if pictures[j] != pictures[i]
                   for ox, oy, s in others if abs(x - ox) < s / 2 and abs(y - oy) < s / 2]
            if own and box[2] >= TINTED_OF_OWN * float(np.median(own)):
                kept.append(box)
        out.append(sorted(kept))
    return out


def _add_faces(lab: NDArray[np.float32], foreground: NDArray[np.bool_], pupils: list[_Pupil],
               faces: list[Box], eyes: list[tuple[float, float]]) -> None:
    """Add to ``faces`` (and their eyes' midpoints to ``eyes``) the pairs of ``pupils`` that are eyes of
    one face and overlap no face already there."""
    pairs: list[tuple[float, int, int, Box, float, float]] = []  # iris difference, pupils, box, eyes' midpoint
    for i, a in enumerate(pupils):
        for j in range(i + 1, len(pupils)):
            left, right = (a, pupils[j]) if a.x < pupils[j].x else (pupils[j], a)
            if _one_face(lab[..., 0], foreground, left, right):
                d = right.x - left.x
                side = round(FACE_SIDE * d)
                mx, my = (left.x + right.x) / 2, (left.y + right.y) / 2
                box = (round(mx - side / 2), round(my + FACE_BELOW_EYES * d - side / 2), side, side)
                pairs.append((float(np.linalg.norm(left.iris - right.iris)), i, j, box, mx, my))
    # Above a face's eyes is its forehead and hair: a pair with another pair above it inside its box
    # is no face (two dark blobs on the collars of two characters side by side, under their faces).
    pairs = [p for p in pairs if not any(q[5] < p[5] - FACE_BELOW_EYES * p[3][2] / FACE_SIDE and _inside(p[3], q[4], q[5])
                                         and not {q[1], q[2]} & {p[1], p[2]} for q in pairs)]
    used: set[int] = set()
    for _, i, j, box, mx, my in sorted(pairs, key=lambda p: p[0]):  # most alike irises first
        if i in used or j in used:  # a pupil is in one face at most
            continue
        # Faces do not overlap: a pair inside a face already found (a highlight and a pupil of one
        # eye, a lash end) or around one (an eye of each of two faces) is no face.
        if any(_inside(box, *e) for e in eyes) or any(_inside(f, mx, my) for f in faces):
            continue
        used |= {i, j}
        faces.append(box)
        eyes.append((mx, my))


def shot_sized_faces(faces: Sequence[list[Box]], transforms: Sequence[Matrix]) -> list[list[Box]]:
    """``faces`` per drawing of a shot without a box `SMALLER_THAN_SHOT` times smaller than the faces
    that hold its centre (through the camera: ``transforms`` map each drawing to the plate) in most of
    the other drawings that have one there, and in two at least (one drawing's false face, an impact
    frame's giant, refuses nothing)."""
    placed = [[(*_to_plate(t, b), b[2]) for b in boxes] for boxes, t in zip(faces, transforms, strict=True)]
    out = []
    for i, boxes in enumerate(faces):
        kept = []
        for box, (x, y, side) in zip(boxes, placed[i], strict=True):
            over = []  # per other drawing with a face over this one's centre, its largest such face's side
            for j, others in enumerate(placed):
                if j == i:
                    continue
                sides = [s for ox, oy, s in others if abs(x - ox) < s / 2 and abs(y - oy) < s / 2]
                if sides:
                    over.append(max(sides))
            larger = sum(s >= SMALLER_THAN_SHOT * side for s in over)
            if larger < 2 or 2 * larger <= len(over):
                kept.append(box)
        out.append(kept)
    return out


def _to_plate(t: Matrix, box: Box) -> tuple[float, float]:
    """The centre of ``box`` on the plate, through the drawing's camera ``t``."""
    x, y = np.asarray(t, np.float64)[:2] @ np.array([box[0] + box[2] / 2, box[1] + box[3] / 2, 1.0])
    return float(x), float(y)


def _inside(box: Box, x: float, y: float) -> bool:
    """Whether the point ``(x, y)`` lies in ``box``."""
    bx, by, bw, bh = box
    return bx <= x < bx + bw and by <= y < by + bh


def _pupils(lab: NDArray[np.float32], foreground: NDArray[np.bool_], white_chroma: float) -> list[_Pupil]:
    """Compact dark blobs of the foreground with a white pixel (sclera, highlight: chroma under
    ``white_chroma``) around them."""
    lightness = lab[..., 0]
    h, w = lightness.shape
    k = max(3, round(min(h, w) * AROUND)) | 1
    around = cv2.dilate(lightness, np.ones((k, k), np.uint8))
    dark = ((lightness < PUPIL_DARK * around) & foreground).astype(np.uint8)
    n, comp, stats, centres = cv2.connectedComponentsWithStats(dark, connectivity=8)
    largest = max(3, round(min(h, w) * PUPIL_MAX))
    out = []
    for c in range(1, n):
        x, y, bw, bh, area = (int(v) for v in stats[c])
        # Round or taller than wide (a lash line is wide, an outline long), mostly filled.
        if area < 2 or max(bw, bh) > largest or not 0.9 <= bh / bw <= 3.0 or area < 0.4 * bw * bh:
            continue
        r = max(bw, bh)
        y0, y1, x0, x1 = max(0, y - r), min(h, y + bh + r), max(0, x - r), min(w, x + bw + r)
        pupil = comp[y0:y1, x0:x1] == c
        ring = lab[y0:y1, x0:x1][~pupil & foreground[y0:y1, x0:x1]]
        chroma = np.abs(ring[:, 1] - 128) + np.abs(ring[:, 2] - 128)
        white = (ring[:, 0] >= WHITE_L) & (chroma < white_chroma)
        if not white.any() or white.all():
            continue
        # The iris: what is around the pupil and not white (the median: the iris is most of it).
        out.append(_Pupil(float(centres[c][0]), float(centres[c][1]), (bw + bh) / 2, area,
                          np.median(ring[~white], axis=0)))
    return out


def _one_face(lightness: NDArray[np.float32], foreground: NDArray[np.bool_], left: _Pupil, right: _Pupil) -> bool:
    """Whether two pupils are the eyes of one face: alike, level, spaced as eyes, skin between."""
    d = right.x - left.x
    size = (left.size + right.size) / 2
    if max(left.area, right.area) > 2.5 * min(left.area, right.area):
        return False
    if abs(left.y - right.y) > max(1.5, 0.15 * d) or not SPACING[0] * size <= d <= SPACING[1] * size:
        return False
    if float(np.linalg.norm(left.iris - right.iris)) > SAME_IRIS:
        return False
    # The middle third between the pupils, on their row: the face's own skin, in the foreground.
    y = round((left.y + right.y) / 2)
    x0, x1 = round(left.x + d / 3), round(right.x - d / 3) + 1
    bridge = lightness[y, x0:x1]
    if bridge.size == 0 or not foreground[y, x0:x1].all():
        return False
    return bool(np.median(bridge) >= max(left.iris[0], right.iris[0]) + SKIN_OVER_IRIS)
