"""The matte stage, weight-free: an alpha matte from a binary character mask.

The mask is turned into a trimap (sure foreground, an unknown band, sure background) whose width
scales with the image, then the unknown band is solved either by a fast local colour model smoothed
with a guided filter (default) or by closed-form matting from pymatting (``method="cf"``, better on
hair but JIT-compiled with numba on first use, about a minute). Both work only on a crop around the
band. Anime line art gets special care: thin dark outlines next to the mask belong to the character.

`ClassicalMatter.matte_shot` does better when it sees the whole shot: the background behind each
character is stitched from the frames that reveal it (`matte_background.known_background`: the
inpainter's stitch, only in the band along the mask's edge that the solve reads), and where
it is known each edge pixel solves the compositing equation against that exact background, with the
foreground colour sampled from the character's own nearby pixels (`composite_alpha`): alpha follows
the drawing's real edge even where the mask is a pixel or two off, and parts of the mask that are
background are dropped. Where the background is unknown the mask's edge is feathered by about a pixel
(on anime the mask's edge is the art's edge; a colour model guessing the background moves it), with
the dark outline hugging the mask taken in. Either way, background the mask took in is cut: past the
character's own outline (`matte_outline`), or with no line between in colours the character never has
(`matte_scenery`). Holes enclosed by the mask, or by the mask with the dark line art touching
it, that are small (eye whites, teeth, glasses) are filled: alpha is 1 inside the outline. Larger regions the mask encloses,
alone or with the frame's border (a torso the segment mask missed between the arms of a character
the frame cuts) - or with the border and the dark strokes touching the mask, when the mask missed the
body's outline too (`inked_gaps`) - are filled when they look like the character (`character_gaps`:
its colours, no frame showing background there, deeper than a sliver).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Mask, Role, SoftMap
from models.classical import morphology
from models.classical.drawings import same_drawing
from models.classical.filters import colour_distance, guided_filter, line_art, masked_median_colour
from models.classical.geometry import Matrix
from models.classical.matte_background import known_background, shot_camera
from models.classical.matte_outline import beyond_outline
from models.classical.matte_scenery import scenery_in_mask
from models.classical.tracks import more_frequent_on

Method = Literal["guided", "cf"]
F32 = NDArray[Any]  # cv2 stubs type results loosely; keep internal arrays loose too


def band_width(shape: tuple[int, ...]) -> int:
    """Half-width of the trimap's unknown band: about 0.6 % of the long side, at least 3 px."""
    return max(3, round(max(shape[:2]) / 160))


def make_trimap(image: Image, mask: Mask, radius: int | None = None) -> F32:
    """Trimap ``float32``: 1 sure foreground, 0 sure background, 0.5 unknown."""
    r = radius or band_width(mask.shape)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    m8 = mask.astype(np.uint8)
    fg = cv2.erode(m8, k).astype(bool)
    maybe = cv2.dilate(m8, k).astype(bool)
    trimap = np.where(maybe, 0.5, 0.0).astype(np.float32)
    trimap[fg] = 1.0
    # Outlines hugging the mask are part of the character even where the mask stops short of them.
    trimap[line_art(image, r, contrast=40.0, darkest=110) & maybe & ~fg] = 1.0
    return trimap


def _normalised_mean(img: F32, weight: F32, sigma: float) -> tuple[F32, F32]:
    """Local mean colour of the weighted pixels (normalised convolution) and the local weight."""
    w = cv2.GaussianBlur(weight, (0, 0), sigma)
    num = cv2.GaussianBlur(img * weight[..., None], (0, 0), sigma)
    return num / np.maximum(w, 1e-6)[..., None], w


def _solve_guided(img: F32, trimap: F32, r: int) -> F32:
    fg = (trimap == 1.0).astype(np.float32)
    bg = (trimap == 0.0).astype(np.float32)
    # Nearby known colours: try a tight window first, then widen where it saw nothing.
    f_mean, f_w = _normalised_mean(img, fg, r)
    b_mean, b_w = _normalised_mean(img, bg, r)
    f_wide, _ = _normalised_mean(img, fg, 4 * r)
    b_wide, _ = _normalised_mean(img, bg, 4 * r)
    f_mean = np.where((f_w > 0.02)[..., None], f_mean, f_wide)
    b_mean = np.where((b_w > 0.02)[..., None], b_mean, b_wide)
    d = f_mean - b_mean
    dd = np.sum(d * d, axis=2)
    proj = np.clip(np.sum((img - b_mean) * d, axis=2) / (dd + 1e-6), 0.0, 1.0)
    # Where foreground and background colours agree the projection is noise: lean on the mask shape.
    trust = dd / (dd + 0.01)
    shape = cv2.GaussianBlur(fg + 0.5 * (trimap == 0.5), (0, 0), max(1.0, r / 2))
    alpha0 = np.where(trimap == 0.5, trust * proj + (1 - trust) * np.clip(shape, 0, 1), trimap)
    alpha = guided_filter(img, alpha0.astype(np.float32), max(1, r // 2), 1e-4)
    return alpha


def _solve_cf(img: F32, trimap: F32) -> F32:
    from pymatting import estimate_alpha_cf  # imported lazily: numba JIT on first use

    return estimate_alpha_cf(img.astype(np.float64), trimap.astype(np.float64)).astype(np.float32)


class ClassicalMatter:
    """Weight-free matter: trimap from the mask, then guided-filter or closed-form matting.

    Parameters
    ----------
    method:
        ``"guided"`` (fast local colour model + guided filter) or ``"cf"`` (pymatting closed form).
    band:
        Unknown-band half-width in pixels; ``None`` scales it with the image size.
    """

    name: ClassVar[str] = "classical"
    role: ClassVar[Role] = "matter"

    def __init__(self, *, method: Method = "guided", band: int | None = None) -> None:
        self.method: Method = method
        self.band = band

    def load(self, device: str = "cpu") -> None:
        """Nothing to load."""

    def release(self) -> None:
        """Nothing to release."""

    def matte(self, image: Image, mask: Mask) -> SoftMap:
        """Return the ``float32`` alpha matte of ``mask``'s objects in ``image``."""
        mask = mask.astype(bool, copy=False)
        if not mask.any():
            return np.zeros(mask.shape, np.float32)
        r = self.band or band_width(mask.shape)
        trimap = make_trimap(image, mask, r)
        out = trimap.copy()
        ys, xs = np.nonzero(trimap == 0.5)
        if len(ys) == 0:
            return np.clip(out, 0, 1)
        pad = 5 * r
        y0, y1 = max(0, ys.min() - pad), min(mask.shape[0], ys.max() + pad + 1)
        x0, x1 = max(0, xs.min() - pad), min(mask.shape[1], xs.max() + pad + 1)
        img = image[y0:y1, x0:x1].astype(np.float32) / 255.0
        tri = trimap[y0:y1, x0:x1]
        alpha = _solve_cf(img, tri) if self.method == "cf" else _solve_guided(img, tri, r)
        unknown = tri == 0.5
        out[y0:y1, x0:x1][unknown] = alpha[unknown]
        return np.clip(out, 0.0, 1.0).astype(np.float32)


    def matte_shot(
        self, frames: Sequence[Image], masks: Sequence[Mask], transforms: Sequence[Matrix] | None = None,
        targets: Sequence[int] | None = None,
    ) -> list[SoftMap]:
        """Mattes for frames of one shot, solved against the background the shot reveals
        (``transforms``: the shot's camera, when already known). With ``targets`` (positions in
        ``frames``) only those mattes are made, in that order; the other frames only lend their
        background (a stage batch holds a sample of the shot's frames besides the ones it writes)."""
        n = len(frames)
        wanted = list(range(n)) if targets is None else [int(i) for i in targets]
        if n == 0 or not wanted:
            return []
        # Limited animation holds a drawing for several frames: one drawing, one matte, so a held
        # frame cannot flicker (even where its segment mask does). A frame's matte is that of the
        # first frame of its run of consecutive frames showing the same drawing.
        head = list(range(n))
        for i in range(1, n):
            if same_drawing(np.asarray(frames[i - 1]), np.asarray(frames[i])):
                head[i] = head[i - 1]
        solve = sorted({head[i] for i in wanted})
        shape = np.asarray(masks[0]).shape
        r = self.band or band_width(shape)
        plain = [fill_small_holes(np.asarray(m, bool)) for m in masks]
        # Holes that only a character's own ink closes (a lens, an eye white on the face's edge):
        # taken below unless the shot's other frames show background there (`seen_holes`; `eval
        # layers` seed 48: matte SAD 1.6434 without that test, 1.6308 with it, main 1.6223).
        # The characters' union as one, not each object alone: the matte reads the union only, so a
        # merge of two objects leaves it standing (`app.pipeline.carry`). Per object, `eval layers` seed 51
        # kept 0.94k px of background two characters' outlines close off together open (matte SAD 1.9384,
        # per connected part 1.9506, as one 1.9671); per part, a face its own glasses' ink cuts in two
        # encloses no lens.
        outlined = [fill_outlined_holes(np.asarray(frames[i]), np.asarray(m, bool), r) & ~plain[i]
                    for i, m in enumerate(masks)]
        ms = [p | o for p, o in zip(plain, outlined, strict=True)]
        # Regions the mask and the frame's border enclose (a torso the segment mask missed between
        # its arms, cut by the frame's bottom): filled below where the evidence says character.
        # With the strokes of the character's own ink that touch the mask (`inked_gaps`): a body the
        # segment mask missed leaks to the outside through its unmasked outline.
        inked = [inked_gaps(np.asarray(frames[i]), m, r) for i, m in enumerate(ms)]
        gaps = [g for g, _ in inked]
        filled = [m | g for m, g in zip(ms, gaps, strict=True)]
        reach = 3 * r
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
        # Generous holes: the stitched background must not contain any of the character, even
        # where the mask stops short of it.
        holes = [morphology.dilate_boxed(m, disk) > 0 for m in filled]
        backgrounds: dict[int, tuple[Image, Mask]] = {}
        if n >= 2:
            ts = list(transforms) if transforms is not None else shot_camera(frames, holes)
            # The edge solve reads the background only out to the reach and in to where the mask is
            # deep (`_matte_near`: its ``deep``, three bands in); three pixels more inside keep its
            # 3x3 openings exact.
            # (and at every pixel of the gaps, which `character_gaps` judges).
            bands = {i: (holes[i] & ~_inner(filled[i], r)) | gaps[i] | outlined[i] for i in solve}
            backgrounds = known_background(frames, holes, ts, bands)
        done: dict[int, SoftMap] = {}
        for i in solve:
            image, mask = np.asarray(frames[i]), ms[i]
            if outlined[i].any() and i in backgrounds:
                mask = mask & ~seen_holes(image, *backgrounds[i], outlined[i])
            if gaps[i].any():
                background, known = backgrounds.get(i, (image, np.zeros(shape, bool)))
                taken = character_gaps(image, background, known, gaps[i], filled[i], r)
                # The ink that closes a gap taken is the character's too (not a line of alpha 0).
                mask = mask | taken | touching(inked[i][1], taken)
            if not backgrounds or not mask.any():
                done[i] = self.matte(image, mask)
                continue
            background, known = backgrounds[i]
            done[i] = self.matte_with_background(image, mask, background, known, holes[i])
        return [done[head[i]] for i in wanted]

    def matte_with_background(
        self, image: Image, mask: Mask, background: Image, known: Mask, reach: Mask
    ) -> SoftMap:
        """Alpha of ``mask``'s objects where the ``background`` behind them is ``known`` (within
        ``reach`` of the mask).

        Each pixel near the edge solves the compositing equation ``I = a F + (1 - a) B`` with B the
        known background and F sampled from the character's own pixels a few pixels away (the one
        that explains the pixel best: anime edges mix one line or fill colour with the background,
        and the nearest fill is often not that colour). Where nothing is known the mask's edge is
        feathered by a pixel: on anime the mask's edge is where the art's edge is, and a colour
        model guessing the background from nearby pixels moves it (SAD 1.02 against 0.50 with true
        masks on seed 101). What matches the background is cut from the mask; what clearly differs
        from it next to the character (a rim, a strand the mask missed) is the character's.
        """
        r = self.band or band_width(mask.shape)
        out = np.zeros(mask.shape, np.float32)
        box = morphology.grown_box(np.asarray(mask, bool) | np.asarray(reach, bool), 3 * r)
        if box is None:
            return out
        # Everything below reaches at most ~3 bands past the mask and the reach (the line-art
        # black-hat, the rings, the feather), and alpha is 0 beyond: the box around them, with
        # 3 more bands, gives exactly the whole frame's result at a fraction of the cost in 1080p.
        exterior = exterior_of(mask)
        out[box] = self._matte_near(image[box], mask[box], background[box], known[box], reach[box], r, exterior[box])
        return out

    def _matte_near(
        self, image: Image, mask: Mask, background: Image, known: Mask, reach: Mask, r: int,
        exterior: Mask | None = None,
    ) -> SoftMap:
        use = known & reach
        if exterior is None:
            exterior = exterior_of(mask)
        # Dark outlines hugging the mask are the character's (the segment masks often stop short of
        # them: glasses, the line around a face); where the background is known the solve below
        # weighs them instead (as a rule there they cost 7 % SAD on seed 101, true masks).
        mask = mask.astype(bool) | (outline_of(image, mask, r) & ~use)
        # Past the outer edge of the character's own outline is background (`beyond_outline`).
        mask &= ~beyond_outline(image, mask, background, use, r, exterior & ~mask)
        # Background taken in with no outline between, in colours the character never has
        # (`scenery_in_mask`), also where the background counts as known: a character that never
        # leaves its place is stitched into its own "background" (konobi), which the solve below
        # takes the scenery to differ from - so it is left out of the solve too.
        scenery = scenery_in_mask(image, mask, exterior & ~mask, r)
        mask &= ~scenery
        use = use & ~scenery
        img = image.astype(np.float32)
        bg = background.astype(np.float32)
        diff = img - bg
        # Channel by channel: a sum over an axis of 3 is several times slower (the same float32 sum).
        dc = [diff[..., c] for c in range(3)]
        dist = np.sqrt(dc[0] * dc[0] + dc[1] * dc[1] + dc[2] * dc[2])
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        near8 = cv2.dilate(mask.astype(np.uint8), k)
        ring = use & ~(cv2.dilate(near8, k) > 0)
        if not use.any() or (ring.sum() > 50 and float(np.median(dist[ring])) > 20.0):
            # Nothing known, or the frame does not show the shot's background (a flash, an impact).
            return feather(mask, r)
        core8 = cv2.erode(mask.astype(np.uint8), k)
        fg_core = core8 > 0
        differs = (dist > 40.0) & use
        # Deep inside the mask the stitched background may be the character itself (a part that
        # never moved, which the mask missed in every frame): only the band near the edge is judged.
        deep = cv2.erode(core8, k, iterations=2) > 0
        same = cv2.morphologyEx(((dist < 10.0) & use & ~deep).astype(np.uint8), cv2.MORPH_OPEN, k) > 0
        same = background_runs(same, mask, img)
        sure_fg = (fg_core & ~same) | (cv2.morphologyEx(differs.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0)
        body = mask & ~(same & ~sure_fg)
        prior = feather(body, r)
        # A thin rim that differs from the background and hangs on the character is its drawing
        # (its outline, a lit strand): a colour source for the solve, not part of the prior. Unless
        # it is brighter than the background in every channel: that is added light (a glow hugging
        # the silhouette, sparks), the effects stage's layer (seed 404, true masks: SAD 0.34 -> 0.28).
        near = near8 > 0
        light = (dc[0] > 0) & (dc[1] > 0) & (dc[2] > 0)
        sources = body | touching(differs & near & ~light, body)
        three = np.ones((3, 3), np.uint8)
        solve = (use & (cv2.dilate(sources.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)
                 & ~(cv2.erode(body.astype(np.uint8), three) > 0))
        solved = composite_alpha(img, bg, sources, solve, prior)
        # No source with contrast to the background near: the background there may be the
        # character itself (stitched from frames whose masks all missed that part); keep the prior.
        found = ~np.isnan(solved)
        # Noise in the difference: a few levels of grain or compression are not coverage.
        solved = np.where(dist < 6.0, 0.0, solved)
        alpha = np.where(found, solved, prior)
        return np.clip(alpha, 0.0, 1.0).astype(np.float32)


def exterior_of(mask: Mask) -> Mask:
    """What lies outside ``mask`` and is not enclosed by it (alone or with the frame's border):
    the holes and gaps a mask leaves in a character are no background side for its outline. In a
    close-up, where mask and gaps cover the frame (the ring round them holds under `GAP_RING` of the
    gaps, as `character_gaps` judges), the gaps that reach the frame's border are its outside: the
    background beside the character is "enclosed" with the border there, and without an outside the
    mask's overshoot onto it was never cut (onepiece frame 101: the sky and rigging beside Luffy's hat)."""
    m = np.asarray(mask, bool)
    gaps = enclosed_gaps(m)
    if gaps.any() and not judged_by_ring(gaps, ring_round(m | gaps)):
        n, lab = cv2.connectedComponents(gaps.astype(np.uint8), connectivity=4)
        edge = np.zeros(n, bool)
        for border in (lab[0], lab[-1], lab[:, 0], lab[:, -1]):
            edge[border] = True
        edge[0] = False
        gaps = gaps & ~edge[lab]
    return np.asarray(~m & ~gaps)


def _inner(mask: Mask, band: int) -> Mask:
    """Within ``mask`` eroded three times by the ``band``'s disc and by three pixels more: eroded
    once by the square that holds all of that (a square erodes fast, and at least as much)."""
    out = np.zeros(mask.shape, bool)
    box = morphology.grown_box(mask, 1)
    if box is not None:
        side = 3 * 2 * band + 3 * 2 + 1
        out[box] = cv2.erode(mask[box].astype(np.uint8), np.ones((side, side), np.uint8)) > 0
    return out


SAMPLE_RADIUS = 3  # px: how far from an edge pixel its foreground colour is looked for
MIN_CONTRAST = 20.0  # levels: a foreground colour this close to the background says nothing of alpha
DISTANCE_COST = 1.0  # levels of residual one pixel of distance to the colour source is worth
PRIOR_COST = 0.2 * 255.0  # levels of residual a full step away from the feathered mask is worth
FEATHER = 0.25  # the feather's Gaussian sigma, in trimap bands (0.75 px at 480 p)


def outline_of(image: Image, mask: Mask, band: int) -> Mask:
    """The dark line art (`line_art`) within ``band`` px of ``mask`` that touches it."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    near = cv2.dilate(mask.astype(np.uint8), k) > 0
    return touching(line_art(image, band, contrast=40.0, darkest=110) & near & ~mask, mask)


def feather(mask: Mask, band: int) -> SoftMap:
    """The mask with its edge softened over about a pixel (0.25 band, 0.75 px at 480 p): anime
    art is antialiased over 1-3 px, centred on the edge a mask follows."""
    return np.asarray(cv2.GaussianBlur(mask.astype(np.float32), (0, 0), FEATHER * band), np.float32)


def composite_alpha(img: F32, bg: F32, sources: Mask, solve: Mask, prior: F32) -> F32:
    """Per pixel of ``solve``, alpha from ``I = a F + (1 - a) B`` (``float32`` RGB, 0..255) with F the
    colour of one of the ``sources`` pixels within `SAMPLE_RADIUS`: the one with the smallest
    residual, plus a cost for its distance and for leaving the ``prior``. NaN where no source with
    enough contrast to the background is near (and outside ``solve``)."""
    h, w = sources.shape
    ys, xs = np.nonzero(solve)
    out = np.full((h, w), np.nan, np.float32)
    if len(ys) == 0:
        return out
    # Channel by channel (rows of N pixels): a sum over an axis of 3 is slow, and this is the solve's
    # innermost loop (the same float32 arithmetic, in the same order).
    planes = [np.ascontiguousarray(img[..., c]).ravel() for c in range(3)]
    b = [np.ascontiguousarray(bg[..., c])[ys, xs] for c in range(3)]
    d = [planes[c][ys * w + xs] - b[c] for c in range(3)]
    pr = prior[ys, xs]
    flat_sources = sources.ravel()
    best_cost = np.full(len(ys), np.inf, np.float32)
    best = np.full(len(ys), np.nan, np.float32)
    rad = SAMPLE_RADIUS
    for dy in range(-rad, rad + 1):
        for dx in range(-rad, rad + 1):
            step = float(np.hypot(dy, dx))
            if step == 0.0 or step > rad + 0.01:
                continue  # a pixel is not its own foreground colour (that would always say alpha 1)
            at = np.clip(ys + dy, 0, h - 1) * w + np.clip(xs + dx, 0, w - 1)
            fb = [planes[c][at] - b[c] for c in range(3)]
            fb2 = fb[0] * fb[0] + fb[1] * fb[1] + fb[2] * fb[2]
            ok = flat_sources[at] & (fb2 > MIN_CONTRAST**2)
            a = np.clip((d[0] * fb[0] + d[1] * fb[1] + d[2] * fb[2]) / np.maximum(fb2, 1e-3), 0.0, 1.0)
            res = [d[c] - a * fb[c] for c in range(3)]
            cost = (np.sqrt(res[0] * res[0] + res[1] * res[1] + res[2] * res[2]) + DISTANCE_COST * step
                    + PRIOR_COST * np.abs(a - pr))
            better = ok & (cost < best_cost)
            best_cost[better] = cost[better]
            best[better] = a[better]
    out[ys, xs] = best
    return out


FILL_TOLERANCE = 12.0  # RGB levels under which two neighbouring pixels are one flat fill
CONTINUES = 0.5  # share of a run's border with the rest of the mask in one fill that keeps it


def background_runs(same: Mask, mask: Mask, img: F32) -> Mask:
    """The runs of ``same`` (mask pixels that match the stitched background) that are background
    the mask took in: those joined to the mask's outside whose border with the rest of the mask
    is mostly line art or a change of colour. On anime, background beside a character meets it
    at the character's outline; a run that continues the mask's own fill with no line between
    (a white shirt, a lens, a still character's hair that frames whose masks missed it put into
    the stitched background) and a run the mask encloses are the character's, and stay."""
    if not same.any():
        return same
    candidate = (same & mask).astype(np.uint8)
    count, runs = cv2.connectedComponents(candidate, connectivity=4)
    if count <= 1:
        return same & ~mask
    outside = cv2.dilate((~mask).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    reached = np.zeros(count, bool)
    reached[np.unique(runs[outside & (candidate > 0)])] = True
    rest = mask & (candidate == 0)
    pairs = np.zeros(count, np.int64)
    smooth = np.zeros(count, np.int64)
    h, w = mask.shape
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        # Each pixel of the rest and the run id of its neighbour (dy, dx) away, if any.
        ys0, ys1 = max(0, dy), h + min(0, dy)
        xs0, xs1 = max(0, dx), w + min(0, dx)
        here = (slice(ys0, ys1), slice(xs0, xs1))
        there = (slice(ys0 - dy, ys1 - dy), slice(xs0 - dx, xs1 - dx))
        moved = runs[there]
        near = rest[here] & (moved > 0)
        flat = near & (colour_distance(img[here], img[there]) <= FILL_TOLERANCE)
        pairs += np.bincount(moved[near], minlength=count)
        smooth += np.bincount(moved[flat], minlength=count)
    reached &= smooth <= CONTINUES * np.maximum(pairs, 1)
    reached[0] = False
    return np.asarray((same & ~mask) | reached[runs])


def touching(candidates: Mask, anchor: Mask) -> Mask:
    """The 8-connected parts of ``candidates`` that touch ``anchor`` (or lie on it)."""
    n, lab = cv2.connectedComponents((candidates | anchor).astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros(candidates.shape, bool)
    hit = np.zeros(n, bool)
    hit[np.unique(lab[anchor])] = True
    hit[0] = False
    return np.asarray(hit[lab] & candidates)


GAP_FRACTION = 0.5  # a gap larger than this fraction of the mask is the outside, not a gap
GAP_SEEN = 0.4  # a gap whose pixels the known background shows as background beyond this fraction is background
GAP_LIKE = 0.7  # a gap is the character's when this fraction of its pixels has the character's colours
GAP_DEPTH = 8.0 / 3.0  # bands: a gap thinner than this (8 px at 480x270) is a sliver of background
GAP_RING = 0.1  # the ring of background that judges the gaps must hold at least this fraction of their pixels
SEEN_REACH = 0.06  # of the frame's long side: the background around a hole that it is compared with
# Lab distance of medians under which a hole shows that background. onepiece_demo.mp4: the wall
# between a strand of Luffy's hair and his cheek (frame 103) is 3.3 from the wall around, Coby's eye
# white in frames 31-79 15.7 (the unmasked white shirt and hair are in the ring): 16, the enclosure's
# `fill_enclosed` match, refused that eye in 6 cut-outs; the tuning seeds' mattes are the same with either.
SEEN_MATCH = 10.0


def enclosed_gaps(mask: Mask, max_fraction: float = GAP_FRACTION) -> Mask:
    """The regions outside ``mask`` that it encloses together with the frame's border, each up to
    ``max_fraction`` of the mask's area: holes (`fill_small_holes` fills only small ones) and regions
    a character cut by the frame's edge closes off (its torso between the arms, missed by the
    segment mask). Some are background (between an arm and the body, between two characters):
    `character_gaps` tells them apart."""
    m = np.pad(mask.astype(np.uint8), 1, constant_values=1)
    _, lab, stats, _ = cv2.connectedComponentsWithStats(1 - m, connectivity=4)
    fill = stats[:, cv2.CC_STAT_AREA] <= max_fraction * float(mask.sum())
    fill[0] = False
    return np.asarray(fill[lab][1:-1, 1:-1])


GAP_INK = 20.0  # black-hat levels of the strokes that close a gap (`inked_gaps`)


def inked_gaps(image: Image, mask: Mask, band: int) -> tuple[Mask, Mask]:
    """The regions outside ``mask`` that it encloses together with the frame's border and the dark
    strokes (`line_art` at `GAP_INK`) that touch it (`enclosed_gaps` of the mask and those strokes),
    and the strokes. A front character's body that the segment mask missed, cut by the frame's
    bottom, reaches the outside through the unmasked outline of its sleeves (layer-quality 404: its
    torso); closed by the outline it is a gap, and `character_gaps` judges it."""
    m = np.asarray(mask, bool)
    strokes = np.zeros(m.shape, bool)
    # In the mask's box (grown as `fill_outlined_holes`' is): over the whole frame the strokes took in
    # background lines far from the character (layer-quality 202 with true masks: matte SAD 0.5347 ->
    # 0.5908; 707 with pipeline masks gained 0.04 more).
    box = morphology.grown_box(m, 2 * band + 2)
    if box is not None:
        strokes[box] = touching(line_art(image[box], band, contrast=GAP_INK) & ~m[box], m[box])
    # Only those that reach the frame's border: on the tuning seeds the ink-closed regions away from it
    # were mostly background between two characters a mask bridged, closed by the background's own lines.
    inked = _at_border(enclosed_gaps(m | strokes) & ~strokes)
    # The gaps the mask alone encloses stay whole (the strokes inside one would cut it into slivers).
    return enclosed_gaps(m) | inked, strokes


def _at_border(regions: Mask) -> Mask:
    """The 4-connected parts of ``regions`` that reach the frame's border."""
    n, lab = cv2.connectedComponents(regions.astype(np.uint8), connectivity=4)
    edge = np.zeros(n, bool)
    for side in (lab[0], lab[-1], lab[:, 0], lab[:, -1]):
        edge[side] = True
    edge[0] = False
    return np.asarray(edge[lab])


def ring_round(filled: Mask) -> Mask:
    """The background around mask + gaps (``filled``) that judges the gaps: within 15 px of it."""
    return np.asarray((cv2.dilate(filled.astype(np.uint8), np.ones((31, 31), np.uint8)) > 0) & ~filled)


def judged_by_ring(gaps: Mask, around: Mask) -> bool:
    """Whether the ring round mask + gaps (``around``, `ring_round`) holds at least `GAP_RING` of the
    gaps' pixels: not so in a close-up, whose mask and gaps cover (nearly) the whole frame."""
    return int(np.count_nonzero(around)) >= GAP_RING * int(np.count_nonzero(gaps))


def character_gaps(image: Image, background: Image, known: Mask, gaps: Mask, filled: Mask, band: int) -> Mask:
    """The parts of ``gaps`` (`enclosed_gaps`) that are the character's: each gap is whole or not,
    by three tests. Not where the shot's other frames show background behind more than `GAP_SEEN` of
    it (``known``, within 10 levels); only when at least `GAP_LIKE` of its pixels have colours more
    frequent on the character (the mask) than on the background around it (a 4-bit-per-channel
    histogram of each); and only when it is at least `GAP_DEPTH` bands deep (the slivers between a
    limb and the frame's edge, or between two characters, are background). When mask and gaps
    cover (nearly) the whole frame - a close-up, whose background beside the character is itself
    "enclosed" with the frame's border - the ring of background around them is empty or smaller
    than `GAP_RING` of the gaps: nothing can be judged against it, and the gaps stay background
    (an empty ring made every colour "more frequent on the character": the whole background of
    a close-up was made opaque)."""
    n, lab = cv2.connectedComponents(gaps.astype(np.uint8), connectivity=4)
    if n <= 1:
        return np.zeros(gaps.shape, bool)
    around = ring_round(filled)
    if not judged_by_ring(gaps, around):
        return np.zeros(gaps.shape, bool)
    flat = np.asarray(lab, np.intp).ravel()
    size = np.maximum(np.bincount(flat, minlength=n), 1).astype(np.float64)
    seen = _shown_share(image, background, known, flat, size)
    like = more_frequent_on(image, filled & ~gaps, around)
    liked = np.bincount(flat, weights=like.ravel(), minlength=n) / size
    depth = cv2.distanceTransform(np.pad(gaps.astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    deepest = np.zeros(n)
    np.maximum.at(deepest, flat, depth.ravel())
    keep = (seen <= GAP_SEEN) & (liked >= GAP_LIKE) & (deepest >= GAP_DEPTH * band - 1e-3)
    keep[0] = False
    return np.asarray(keep[lab])


def fill_outlined_holes(image: Image, mask: Mask, band: int, max_fraction: float = 0.05) -> Mask:
    """``mask`` with the small holes (`fill_small_holes`) that it encloses together with the dark line
    art touching it (whole strokes, however far from the mask they run: a thick lens rim's far side)
    filled. A segment mask often stops short of the character's own ink (lens rims, an eye's
    outline, the strokes between hair strands): a hole then leaks to the outside through the
    unmasked strokes, and an eye white or a lens stays transparent though the drawing closes it
    (onepiece_demo.mp4: Coby's lenses at frame 0, Luffy's far eye white at frame 88). The strokes
    themselves are left to the solve (added to the mask as rims they cost SAD on the tuning seeds:
    the ink around false pieces of mask). Background seen between an arm and the body stays open:
    a hole in the colour of the background around it is `seen_through` (onepiece frame 103: the
    wall between a strand of Luffy's hair and his cheek, 1.9k px, was made opaque without it), and
    holes over `max_fraction` of the mask stay open as before."""
    m = np.asarray(mask, bool)
    box = morphology.grown_box(m, 2 * band + 2)
    if box is None:
        return m
    sub = m[box]
    strokes = touching(line_art(image[box], band, contrast=40.0, darkest=110) & ~sub, sub)
    closed = fill_small_holes(sub | strokes, max_fraction)
    holes = closed & ~(sub | strokes)
    if not holes.any():
        return fill_small_holes(m, max_fraction)
    holes &= ~seen_through(image[box], holes, ~closed, round(SEEN_REACH * max(m.shape)))
    out = m.copy()
    out[box] |= holes
    return fill_small_holes(out, max_fraction)


def seen_holes(image: Image, background: Image, known: Mask, holes: Mask) -> Mask:
    """The ``holes`` whose pixels the stitched ``background`` shows as background (``known``, within
    10 levels) over more than `GAP_SEEN` of them: the shot's other frames saw through there."""
    n, lab = cv2.connectedComponents(holes.astype(np.uint8), connectivity=4)
    if n <= 1:
        return np.zeros(holes.shape, bool)
    flat = np.asarray(lab, np.intp).ravel()
    size = np.maximum(np.bincount(flat, minlength=n), 1).astype(np.float64)
    seen = _shown_share(image, background, known, flat, size) > GAP_SEEN
    seen[0] = False
    return np.asarray(seen[lab])


def _shown_share(image: Image, background: Image, known: Mask, flat: NDArray[np.intp],
                 size: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per region (``flat``: each pixel's region number; ``size``: each region's pixel count), the share
    of its pixels that the stitched ``background`` shows as they are (``known``, within 10 levels)."""
    same = known & (colour_distance(image.astype(np.float32), background.astype(np.float32)) < 10.0)
    return np.asarray(np.bincount(flat, weights=same.ravel(), minlength=len(size)) / size)


def seen_through(image: Image, holes: Mask, outside: Mask, reach: int) -> Mask:
    """The parts of ``holes`` whose median colour (Lab) is within `SEEN_MATCH` of the ``outside``
    within ``reach`` of them: background seen through the character, not its eye white or lens."""
    lab = np.asarray(cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2LAB), np.uint8)
    n, comp, stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=4)
    out = np.zeros(holes.shape, bool)
    h, w = holes.shape
    for c in range(1, n):
        x, y, bw, bh = (int(v) for v in stats[c, :4])
        at = np.s_[max(0, y - reach):min(h, y + bh + reach), max(0, x - reach):min(w, x + bw + reach)]
        hole, ring = comp[at] == c, outside[at]
        if int(ring.sum()) < 10:
            continue
        win = lab[at]
        dist = float(np.linalg.norm(masked_median_colour(win, hole) - masked_median_colour(win, ring)))
        if dist < SEEN_MATCH:
            out[at] |= hole
    return out


def fill_small_holes(mask: Mask, max_fraction: float = 0.05) -> Mask:
    """``mask`` with enclosed holes smaller than ``max_fraction`` of its area filled: eye whites,
    teeth and glasses are inside a character's outline, whatever colour they are. Larger holes
    (between an arm and the body) stay open."""
    out = mask.astype(bool)
    # In the mask's box grown by a pixel: what touches the box's edge is the outside (or the frame's
    # edge), exactly as in the whole frame.
    box = morphology.grown_box(out, 1)
    if box is None:
        return out
    out = out.copy()
    m = out[box].astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(1 - m, connectivity=4)
    h, w = m.shape
    limit = max_fraction * float(m.sum())
    fill = np.zeros(n, bool)
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        touches = x == 0 or y == 0 or x + bw == w or y + bh == h
        fill[i] = not touches and area <= limit
    if fill.any():
        out[box] |= fill[lab]
    return out
