"""Weight-free identity across shots: who is this track, among the characters seen so far?

A character keeps its colour palette from shot to shot (hair, skin and clothes are flat cel fills),
while its size, pose and framing change completely at a cut. The descriptor of a track is therefore
mostly colour: Lab histograms of its fill pixels (line art and shading edges left out) over the whole
object and over its top band (hair, or hat), averaged over a few frames of the shot, plus a lightly
weighted coarse shape (aspect and fill of the bounding box). Only an object's core pixels are described,
each colour weighted by how much more it belongs to the object than to the frame's background
(`frame_descriptor`). Tracks are linked to known objects by a one-to-one assignment (Hungarian) on a
Hellinger distance, and only below a threshold (`link_tracks`); a deep embedding (DINOv2 / CLIP crops
from the annotator backend) joins the distance when one is given.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from models.base import Image, Labels

BINS = (4, 8, 8)  # L, a, b; each pixel votes softly into the bins around it (`_votes`)
HIST = int(np.prod(BINS))
SAMPLES = 8  # frames of the shot a descriptor looks at
MIN_PIXELS = 64  # smaller appearances say nothing about colour
# Combined distance (see `distance`) under which a track is the known object; up to LOOSE more when
# that object is the track's clear best (MARGIN nearer than any other known object). Tuned on tracks of
# generated clips (seeds 11-14, 20-29 through the real segment stage; 31-45 with true tracks).
LINK_THRESHOLD = 0.30
LOOSE, MARGIN = 0.06, 0.08
# A brief track's loose band (`link_tracks`): described from a drawing or three, often small, its distance
# to its own object is noisier than a whole track's. Tuning seeds 61-90: character 3 of seed 72, on
# screen in 3 of 10 drawings, 0.361 from its object and 0.496 from the next, became a new object. Over
# 46-90 this band changes that decision only. Whole tracks keep LOOSE: characters first seen in a shot
# come 0.335-0.40 from another's object there, 0.1-0.2 clear of the next (seeds 61-90).
BRIEF_LOOSE = 0.10
WHOLE_WEIGHT, TOP_WEIGHT = 0.55, 0.35  # of the distance; coarse shape has the rest
COST_CAP = 1.5  # x LINK_THRESHOLD: the Hungarian's cost of a pair is capped there (see `link_tracks`)
CONTACT = 3  # px: core pixels keep this far from other objects
BACKGROUND_WEIGHT = 1.0  # how strongly a colour's share of the background discounts it
# A sampled frame whose descriptor is this far from the track's most central frame's is left out of the
# track's descriptor (`consistent_frames`). Tuned on seeds 11-14, 20-45 through the real segment stage:
# 0.45-0.7 give the same identity, 0.35-0.4 lose pairs.
OUTLIER = 0.6
Embedder = Callable[[list[Image]], NDArray[np.float32]]


@dataclass
class TrackDescriptor:
    """Colour histograms (whole object, top band), coarse shape, and an optional deep embedding."""

    whole: NDArray[np.float32]
    top: NDArray[np.float32]
    shape: NDArray[np.float32]
    deep: NDArray[np.float32] | None = None

    def to_json(self) -> dict[str, list[float] | None]:
        return {
            "whole": [round(float(v), 6) for v in self.whole], "top": [round(float(v), 6) for v in self.top],
            "shape": [round(float(v), 6) for v in self.shape],
            "deep": None if self.deep is None else [round(float(v), 6) for v in self.deep],
        }

    @classmethod
    def from_json(cls, data: dict[str, list[float] | None]) -> TrackDescriptor:
        def arr(key: str) -> NDArray[np.float32]:
            return np.asarray(data.get(key) or [], np.float32)

        deep = data.get("deep")
        return cls(arr("whole"), arr("top"), arr("shape"), None if deep is None else np.asarray(deep, np.float32))


def _corner_tables() -> list[tuple[NDArray[np.int64], NDArray[np.float32]]]:
    """Per channel, for each of the 256 values: its two neighbouring bins and their weights."""
    tables = []
    for n in BINS:
        c = np.arange(256, dtype=np.float32) * (n / 256.0) - 0.5
        lo = np.floor(c)
        frac = (c - lo).astype(np.float32)
        below = np.clip(lo.astype(np.int64), 0, n - 1)
        above = np.clip(lo.astype(np.int64) + 1, 0, n - 1)
        tables.append((np.stack([below, above], axis=1), np.stack([1.0 - frac, frac], axis=1).astype(np.float32)))
    return tables


CORNERS = _corner_tables()


def _votes(lab: NDArray[np.uint8]) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Each Lab pixel's (N, 3) soft histogram votes: the 8 bins around it and their trilinear weights.

    Hard bins put two pixels of one fill on either side of a bin edge after a slight grade, an effect's
    added light or a compression change, and the histogram jumps; shared between neighbouring bins,
    a vote moves smoothly with the colour (measured on the tuning tracks: same vs other character
    cross-shot AUC 0.945 -> 0.985).

    A channel value has 256 possible values, so its bins and weights are looked up (`CORNERS`) and the
    8 corners broadcast in `itertools.product` order (L slowest), the weight multiplied L x a x b in
    float32: the same votes as computing them per pixel, at a quarter of the CPU on a 1080p frame.
    """
    (b0, w0), (b1, w1), (b2, w2) = CORNERS
    lum, a, b = lab[:, 0], lab[:, 1], lab[:, 2]
    idx = (b0[lum][:, :, None, None] * BINS[1] + b1[a][:, None, :, None]) * BINS[2] + b2[b][:, None, None, :]
    wts = w0[lum][:, :, None, None] * w1[a][:, None, :, None] * w2[b][:, None, None, :]
    return idx.reshape(-1, 8), wts.reshape(-1, 8)


def _hist(
    votes: tuple[NDArray[np.int64], NDArray[np.float32]], weights: NDArray[np.float32] | None = None
) -> NDArray[np.float32]:
    idx, w = votes
    if weights is not None:
        w = w * weights[:, None]
    h = np.bincount(idx.ravel(), weights=w.ravel(), minlength=HIST).astype(np.float32)
    return h / max(1e-9, float(h.sum()))


def _dense(table: tuple[NDArray[np.int64], NDArray[np.float32]], n: int) -> NDArray[np.float64]:
    """A channel's (256, n) vote weights: row v holds value v's two corner weights in their bins."""
    bins, weights = table
    dense = np.zeros((256, n), np.float64)
    for c in range(2):  # both corners land in the same (clipped) bin at the ends: they add
        np.add.at(dense, (np.arange(256), bins[:, c]), weights[:, c])
    return dense


DENSE_L, DENSE_A = _dense(CORNERS[0], BINS[0]), _dense(CORNERS[1], BINS[1])


def colour_hist(pixels: NDArray[np.uint8]) -> NDArray[np.float32]:
    """`_hist(_votes(pixels))` (unweighted) without the (N, 8) votes: each pixel's b votes are summed
    per (L, a) value pair, then spread over the L and a bins (separable trilinear weights).

    The same histogram bit for bit, not only nearly: every weight is a multiple of 2^-16 (the bins
    split 0..255 into steps of 2^-6 and 2^-5) and a frame has under 2^36 pixels, so every sum is exact
    in float64 whatever its order. A 1080p background (two million pixels) is most of a track
    descriptor's cost (`frame_colours`)."""
    b2, w2 = CORNERS[2]
    pair = pixels[:, 0].astype(np.int64) * 256 + pixels[:, 1]
    b = pixels[:, 2]
    per_pair = np.zeros(256 * 256 * BINS[2], np.float64)
    for c in range(2):
        per_pair += np.bincount(pair * BINS[2] + b2[b, c], weights=w2[b, c], minlength=per_pair.size)
    grid = per_pair.reshape(256, 256, BINS[2])  # L value, a value, b bin
    over_l = np.tensordot(DENSE_L, grid, axes=(0, 0))  # L bin, a value, b bin
    h = np.einsum("aj,iak->ijk", DENSE_A, over_l).reshape(-1).astype(np.float32)
    return h / max(1e-9, float(h.sum()))


def fill_pixels(image: Image, mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The mask without its line art (dark pixels) and outermost ring (anti-aliased into the background)."""
    inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return inner & (image.max(axis=2) > 60)


def core_pixels(image: Image, mask: NDArray[np.bool_], labels: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """`fill_pixels` away from every other object and burnt-in text: where two segmentations meet is
    where they trade pixels, so a border strip describes both objects (or a subtitle) and neither."""
    fill = fill_pixels(image, mask)
    others = (labels != 0) & ~mask
    if others.any():
        near = cv2.dilate(others.astype(np.uint8), np.ones((2 * CONTACT + 1, 2 * CONTACT + 1), np.uint8)).astype(bool)
        core = fill & ~near
        if core.sum() >= MIN_PIXELS:
            return core
    return fill


@dataclass
class FrameColours:
    """What every track's descriptor on one frame shares: the frame in Lab and, with the frame's labels,
    its background's soft histogram (None when the background is too small to say anything). At 1080p
    the background histogram is most of a descriptor's cost, and a shot's tracks are described on the
    same sampled frames (`register.register_shot`), so it is computed once per frame, not per track."""

    lab: NDArray[np.uint8]
    background: NDArray[np.float32] | None


def frame_colours(image: Image, labels: NDArray[np.uint8] | None = None) -> FrameColours:
    """The `FrameColours` of one frame (``labels``: every object of the frame, as `frame_descriptor`)."""
    lab = np.asarray(cv2.cvtColor(image, cv2.COLOR_RGB2LAB), np.uint8)
    p_bg: NDArray[np.float32] | None = None
    if labels is not None:
        background = labels == 0
        if background.sum() >= MIN_PIXELS:
            p_bg = colour_hist(lab[background])
    return FrameColours(lab, p_bg)


def frame_descriptor(
    image: Image, mask: NDArray[np.bool_], labels: NDArray[np.uint8] | None = None,
    colours: Callable[[], FrameColours] | None = None,
) -> TrackDescriptor | None:
    """The descriptor of one appearance, or None when it is too small to say anything.

    With the frame's ``labels`` (every object of the frame), only the object's core pixels count
    (`core_pixels`), and each colour is weighted by how much more often it occurs in the object than
    in the frame's background (``labels == 0``): a segmentation takes background with it (between two
    heads, around the hair), and that background is what two characters of one shot share and what
    changes at a cut, so left in it pulls a shot's characters together and one character's shots apart.

    ``colours``: where the frame's `FrameColours` come from when several tracks share the frame (a
    cache); by default they are computed here.

    The object's pixels are found in its bounding box, grown by what the erosion and the contact
    dilation reach (`_box`): the same pixels, in the same (row-major) order, as over the whole frame,
    without eroding and dilating a 1080p frame per track.
    """
    count = int(np.count_nonzero(mask))
    if count < MIN_PIXELS:  # fill and core pixels are mask pixels
        return None
    # The mask's bounding box without listing its pixels (a 1080p character is ~10^5-10^6 of them).
    x0, y0, bw, bh = cv2.boundingRect(np.ascontiguousarray(mask).view(np.uint8))
    y1, x1 = y0 + bh, x0 + bw
    box = _box(mask.shape, y0, y1, x0, x1, CONTACT + 1)
    fill = fill_pixels(image[box], mask[box]) if labels is None else core_pixels(image[box], mask[box], labels[box])
    if fill.sum() < MIN_PIXELS:
        return None
    shared = colours() if colours is not None else frame_colours(image, labels)
    lab = shared.lab[box]
    votes = _votes(lab[fill])
    weights: NDArray[np.float32] | None = None
    if labels is not None:
        p_bg = shared.background
        if p_bg is not None:
            p_obj = _hist(votes)
            own = p_obj / np.maximum(1e-9, p_obj + BACKGROUND_WEIGHT * p_bg)
            weights = (own[votes[0]] * votes[1]).sum(axis=1).astype(np.float32)
            if float(weights.sum()) < MIN_PIXELS / 4:  # the object is all background colours: keep them all
                weights = None
    fy = np.nonzero(fill)[0] + box[0].start
    in_top = fy < y0 + 0.3 * (y1 - y0)
    whole = _hist(votes, weights)
    top_votes = (votes[0][in_top], votes[1][in_top])
    top_h = _hist(top_votes, None if weights is None else weights[in_top]) if in_top.sum() >= MIN_PIXELS // 2 else whole
    h, w = y1 - y0, x1 - x0
    shape = np.array([np.log(h / max(1, w)), count / max(1, h * w)], np.float32)
    return TrackDescriptor(whole, top_h, shape)


def _box(shape: tuple[int, ...], y0: int, y1: int, x0: int, x1: int, pad: int) -> tuple[slice, slice]:
    """The box [y0, y1) x [x0, x1) grown by ``pad`` on every side, within the frame. Erosion and
    dilation inside it equal the whole frame's within the unpadded box: at the frame's edge the box
    has the frame's own border, elsewhere ``pad`` pixels of what the operation reaches."""
    return slice(max(0, y0 - pad), min(shape[0], y1 + pad)), slice(max(0, x0 - pad), min(shape[1], x1 + pad))


def track_descriptor(
    frames: Sequence[Image], labels: Sequence[Labels], track: int, embed: Embedder | None = None,
    cache: dict[int, FrameColours] | None = None,
) -> TrackDescriptor | None:
    """Average of `frame_descriptor` over up to `SAMPLES` frames where ``track`` is largest-enough.

    ``cache``: the frames' `FrameColours` by index, filled as needed; pass one dict to every track
    described on the same ``frames`` and ``labels`` (the same descriptors, each frame's colours once)."""
    areas = np.array([int(np.count_nonzero(np.asarray(lab) == track)) for lab in labels])
    present = np.flatnonzero(areas >= MIN_PIXELS)
    if len(present) == 0:
        return None
    picks = present[np.linspace(0, len(present) - 1, min(SAMPLES, len(present))).round().astype(int)]
    parts: list[TrackDescriptor] = []
    crops: list[Image] = []
    for i in sorted(set(picks.tolist())):
        image = np.asarray(frames[i])
        lab = np.asarray(labels[i])
        mask = lab == track
        d = frame_descriptor(image, mask, lab, None if cache is None else cached_colours(cache, i, image, lab))
        if d is not None:
            parts.append(d)
            if embed is not None:
                crops.append(_crop(image, mask))
    if not parts:
        return None
    keep = consistent_frames(parts)
    parts = [parts[i] for i in keep]
    crops = [crops[i] for i in keep] if crops else crops
    deep = None
    if embed is not None and crops:
        vecs = np.asarray(embed(crops), np.float32)
        mean = vecs.mean(axis=0)
        deep = (mean / max(1e-9, float(np.linalg.norm(mean)))).astype(np.float32)
    return mean_descriptor(parts, deep)


def mean_descriptor(parts: Sequence[TrackDescriptor], deep: NDArray[np.float32] | None = None) -> TrackDescriptor:
    """The descriptor of several drawings of one track: their colour and shape parts averaged."""
    return TrackDescriptor(
        np.mean([p.whole for p in parts], axis=0).astype(np.float32),
        np.mean([p.top for p in parts], axis=0).astype(np.float32),
        np.mean([p.shape for p in parts], axis=0).astype(np.float32),
        deep,
    )


def consistent_frames(parts: Sequence[TrackDescriptor]) -> list[int]:
    """The frames (indices into ``parts``) whose descriptors the track's descriptor averages.

    A track's frames mostly look alike, but an impact flash or a coloured glow tints a frame through
    (on the tuning seeds a flash frame is 0.5-0.8 from every other frame of its track), and a track can
    hold another character for a few frames or shrink to a sliver behind one; averaged in, such a frame
    pulls the track's signature towards nobody, or towards another character (tuning seed 38: a
    character's track in its second shot, with a flash frame among its ten, was 0.31 from its own object
    and 0.286 from another's, a false link; without the flash 0.257 and 0.373). So the frame whose median distance to the others is smallest is the track's centre, and the
    frames `OUTLIER` or more from it are left out - only while more than half of the frames stay, so a
    track that is two things half the time is described from all its frames, as before."""
    n = len(parts)
    if n < 3:
        return list(range(n))
    dist = np.array([[0.0 if i == j else distance(a, b) for j, b in enumerate(parts)] for i, a in enumerate(parts)])
    centre = int(np.argmin(np.median(dist, axis=1)))
    keep = [i for i in range(n) if dist[i, centre] < OUTLIER]
    return keep if len(keep) > n // 2 else list(range(n))


def cached_colours(cache: dict[int, FrameColours], i: int, image: Image, labels: Labels) -> Callable[[], FrameColours]:
    """Frame ``i``'s colours from ``cache``, computed into it on first use."""

    def get() -> FrameColours:
        if i not in cache:
            cache[i] = frame_colours(image, labels)
        return cache[i]

    return get


def _crop(image: Image, mask: NDArray[np.bool_], margin: float = 0.1) -> Image:
    """The object on white, cut to its box (identity embeddings should see the character, not the set)."""
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    my, mx = int((y1 - y0) * margin), int((x1 - x0) * margin)
    y0, y1, x0, x1 = max(0, y0 - my), min(mask.shape[0], y1 + my), max(0, x0 - mx), min(mask.shape[1], x1 + mx)
    out = np.where(mask[..., None], image, 255).astype(np.uint8)
    return np.ascontiguousarray(out[y0:y1, x0:x1])


def _hellinger(p: NDArray[np.float32], q: NDArray[np.float32]) -> float:
    if p.shape != q.shape or p.size == 0:
        return 1.0
    bc = float(np.sqrt(np.clip(p, 0, None) * np.clip(q, 0, None)).sum())
    return float(np.sqrt(max(0.0, 1.0 - bc)))


def distance(a: TrackDescriptor, b: TrackDescriptor) -> float:
    """0 for the same appearance, about 1 for unrelated palettes.

    Colour carries the weight (whole object 0.55, top band 0.35); shape only 0.1, since a cut from a
    full figure to a close-up changes it completely. With deep embeddings on both sides, their cosine
    distance is averaged in with the colour distance.
    """
    colour = WHOLE_WEIGHT * _hellinger(a.whole, b.whole) + TOP_WEIGHT * _hellinger(a.top, b.top)
    shape_weight = 1.0 - WHOLE_WEIGHT - TOP_WEIGHT
    shape = shape_weight * min(1.0, float(np.abs(a.shape - b.shape).sum()) / 2.0) if a.shape.size == b.shape.size else shape_weight
    d = colour + shape
    if a.deep is not None and b.deep is not None and a.deep.shape == b.deep.shape:
        d = 0.5 * d + 0.5 * (1.0 - float(a.deep @ b.deep))
    return d


def link_tracks(
    tracks: dict[int, TrackDescriptor], known: dict[int, list[TrackDescriptor]], threshold: float = LINK_THRESHOLD,
    brief: Collection[int] = (), fragments: Collection[int] = (),
) -> dict[int, int | None]:
    """Match a shot's tracks to known objects one-to-one (two tracks of one shot are two characters).

    ``known`` holds each object's descriptors from other shots; a track's distance to an object is its
    distance to the nearest of them. Pairs are chosen by the Hungarian method and kept below
    ``threshold``, or below ``threshold + LOOSE`` when no other known object comes within ``MARGIN`` of
    that pair (an unambiguous match; a lone known object is never unambiguous, and an object another
    track of the shot holds under ``threshold``, nearer than this one, is no rival while another
    remains); the other tracks are
    new objects (None). A missed link costs the user a merge, a wrong one a split, so the loose band
    asks for evidence.

    ``brief`` tracks (on screen in few of the shot's drawings: a fragment the segment stage found for a
    frame or two, or a character passing through) are matched after the others, to the objects they
    left: described from a frame or two, such a track must not take a character's object away from the
    track that shows that character all through the shot just because the pair costs less in total.
    A sure link comes before a loose one, though: every track's links under ``threshold`` (the main
    tracks', then the brief ones') are made before any in the loose band, so a character first seen in
    this shot, loosely near an object, does not take it from a brief track that is surely that object.
    A brief track's loose band is ``BRIEF_LOOSE`` wide, not ``LOOSE``: few drawings describe it.

    ``fragments``: known objects seen only as pieces of a character (`register.fragment_objects`: brief
    tracks half the size of their shot's others). Only a brief track is linked to one: a piece the
    segment stage split off for a drawing or two is described from that piece (a clean part of the
    figure, or a part with background), so it can come nearer the whole character in a later shot than
    the character's own object does, and the character then lives on as the piece's object (tuning
    seeds 60 and 52 of 46-60: a later track 0.252 / 0.297 from a 4- or 1-drawing piece's object, 0.253 /
    0.344 from its own). Such an object is still a rival in the loose band.
    """
    out: dict[int, int | None] = {t: None for t in tracks}
    if not tracks or not known:
        return out
    t_ids, o_ids = list(tracks), list(known)
    near = np.array([[min(distance(tracks[t], d) for d in known[o]) for o in o_ids] for t in t_ids])
    cost = near.copy()  # what a link may cost: no whole track to a fragment's object (still a rival, at `near`)
    for r, t in enumerate(t_ids):
        if t not in brief:
            cost[r, [c for c, o in enumerate(o_ids) if o in fragments]] = np.inf
    main = [r for r, t in enumerate(t_ids) if t not in brief]
    rest = [r for r, t in enumerate(t_ids) if t in brief]
    taken: set[int] = set()
    held: dict[int, float] = {}  # object column -> cost of the track of this shot that surely holds it
    holders: set[int] = set()  # rows (tracks) of this shot that surely hold an object
    for rows, loose, band in ((main, False, LOOSE), (rest, False, LOOSE), (main, True, LOOSE), (rest, True, BRIEF_LOOSE)):
        rows = [r for r in rows if out[t_ids[r]] is None]
        cols = [c for c in range(len(o_ids)) if c not in taken]
        for r, c in _assign(cost, rows, cols, threshold, held, loose, holders, near, band):
            out[t_ids[r]] = o_ids[c]
            taken.add(c)
    return out


def _assign(cost: NDArray[np.float64], rows: list[int], cols: list[int], threshold: float,
            held: dict[int, float], loose: bool = True, holders: set[int] | None = None,
            near: NDArray[np.float64] | None = None, band: float = LOOSE) -> list[tuple[int, int]]:
    """The Hungarian pairs of ``cost[rows][:, cols]`` that `link_tracks` keeps (row, column of ``cost``).

    ``held``: objects (columns) that tracks of this shot linked under ``threshold``, with that cost;
    this call's own such links are added to it, and their rows to ``holders``. ``near``: the distances
    rivals are judged by (``cost`` itself by default; `link_tracks` forbids some pairs in ``cost``)."""
    holders = set() if holders is None else holders
    near = cost if near is None else near
    if not rows or not cols:
        return []
    # Costs are capped (a track that matches nothing cannot push another off its best match just to
    # lower the total), but above the loose band: a shot's two characters with near-identical clothes
    # are told apart by the pair of assignments together (0.30 + 0.40 beats 0.30 + 0.53), which a cap
    # at the threshold would make a tie.
    gated = np.minimum(cost[np.ix_(rows, cols)], COST_CAP * threshold)
    pairs = [(rows[i], cols[j]) for i, j in zip(*linear_sum_assignment(gated), strict=True)]
    kept = [(r, c) for r, c in pairs if cost[r, c] < threshold]
    held.update({c: float(cost[r, c]) for r, c in kept})
    holders.update(r for r, _ in kept)
    for r, c in pairs if loose else ():
        if cost[r, c] >= threshold + band or cost[r, c] < threshold:
            continue
        # An object that a track of this shot, surely linked to another object, also comes under the
        # threshold of is that track's character too (two objects of one character, which
        # `register.join_objects` merges once neither is taken): no loose link for anyone else. Held-out
        # seed 59 (46-60): a character split into objects 1 and 4, its shot-3 track linked to 1 at 0.18
        # and 0.24 from 4; a newcomer took 4 at 0.35, a false merge that also kept 1 and 4 apart.
        if any(near[r2, c] < threshold for r2 in holders if r2 != r):
            continue
        # Every other known object is a rival (a near one is ambiguity), except one that another
        # track of this shot holds more surely: two tracks of a shot are two characters, so that
        # object is not this one. When every other object is held so, they all stay rivals (as
        # before): the one left is then as good as alone, and a lone known object never qualifies.
        others = [c2 for c2 in range(cost.shape[1]) if c2 != c]
        rivals = [c2 for c2 in others if not (c2 in held and held[c2] <= near[r, c2])] or others
        if rivals and float(min(near[r, c2] for c2 in rivals)) - cost[r, c] >= MARGIN:
            kept.append((r, c))
    return kept
