"""Weight-free clean plates (the inpaint stage): stitch each frame's hole from the rest of the shot.

A pan or a moving character uncovers, in some frame, most of the background that another frame
hides. The camera is estimated per frame (`align.estimate_camera`) and refined to sub-pixel accuracy
against the shot's median plate (`align.refine_camera`): at a pixel of error a textured background
loses several dB. For frame ``i`` we warp the source frames into it through the camera (bicubic, one
interpolation, so painted texture stays sharp) and take the per-pixel median of the sources that see
the pixel as background; a source whose mask missed a part of a character that frame ``i``'s mask
covers is not taken at face value there (`SameAsTarget`). Only what no source shows is invented, by a spatial inpainter (Telea; the
exemplar fill of `models.classical.exemplar`, which copies the flat fills and lines around the hole,
in `PatchFillInpainter`; or a deep one such as LaMa passed as ``spatial``), and `stitch` says which pixels those are: the plate's
confidence layer is `SEEN_HERE` where the frame itself shows the background, `SEEN_ELSEWHERE` where
another frame of the shot does, and 0 where the pixel is invented.

The sources are read once and held in memory, so ``max_sources`` bounds memory (16 full-HD frames are
~100 MB).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Mask, Role
from models.classical.camera import estimate_camera, refine_camera
from models.classical.exemplar import exemplar_fill
from models.classical.geometry import Matrix, model_scale, resize
from models.classical.morphology import grown_box
from models.classical.plate import (
    build_plate,
    median_rows,
    sample_indices,
    warp_pixels,
    warp_to_frame,
)
from models.classical.plate_votes import MATCHES, missed_parts

K3 = np.ones((3, 3), np.uint8)
TELEA_RADIUS = 5
# Pixels around its hole that Telea reads: its radius, plus the one-pixel gradient stencil and the
# border OpenCV's fast marching puts round the hole (cropping at this margin changes no pixel).
TELEA_REACH = TELEA_RADIUS + 4
SEEN_HERE = 255  # plate confidence: the frame itself shows this background pixel
SEEN_ELSEWHERE = 192  # another frame of the shot shows it (stitched through the camera)
INVENTED = 0  # no frame shows it: spatially inpainted
# A source pixel within this many levels (every channel) of the target frame's own pixel, where the
# target's mask hides the background, is the target's character seen again, not background. H.264
# noise and a held drawing's small motion on onepiece_demo.mp4 need ~12 (8 leaves half of it).
SAME_LEVELS = 12
# ... when the source is a still view of the target's characters: at least this share of the pixels
# both masks cover agree within SAME_LEVELS. A character that moved between them reveals background
# that can match its colour by chance (with true masks on generated shots, 20,000-42,000 source
# pixels a seed: 404's plates lost 1.9 dB without this condition).
STILL_SHARE = 0.5
RING = 64  # a source's `_seen` map on the pixel round what hides its background (0 on what hides it)
BEYOND = 1  # a source's warped `_seen` map off its frame: neither seen nor covered
STILL_SAMPLE = 1024  # pixels the still test looks at, at most (nearest samples: a yes/no on a share)
SpatialFill = Callable[[Image, Mask], Image]  # (image, hole) -> image with the hole filled
# `flat_background`: a 3x3 neighbourhood counts as a flat fill when its range is at most this many
# levels in every channel; the flood from the background goes at most `FLOOD_DEPTH` px into what
# hides it and starts only from flat background at least `FLOOD_FAR` px off it (both at 480 rows).
FLAT_LEVELS = 3
FLOOD_DEPTH = 36
FLOOD_FAR = 14
# `matte_background`: alpha below this (of 255) inside a character's mask is background the matte
# found beyond the character's outline (`matte_outline.beyond_outline`, the compositing solve).
MATTE_CLEAR = 13


def telea(image: Image, hole: Mask) -> Image:
    """A diffusion fill (Telea's fast marching) for pixels no frame shows: smooth, so a large hole
    in a flat-filled anime background becomes a blur (`PatchFillInpainter` copies texture instead).

    Run on the hole's box and `TELEA_REACH` around it: OpenCV's inpaint allocates and scans its
    work maps over the whole image, which at 1080p cost more than filling a small hole."""
    out = np.array(image, np.uint8, copy=True)
    box = grown_box(hole, TELEA_REACH)
    if box is None:
        return out
    out[box] = cv2.inpaint(np.ascontiguousarray(out[box]), hole[box].astype(np.uint8) * 255, TELEA_RADIUS,
                           cv2.INPAINT_TELEA)
    return out


Window = tuple[slice, slice]  # a box in a frame (`morphology.grown_box`)


def stray_frames(frames: Sequence[Image], transforms: Sequence[Matrix], hidden: Sequence[Mask]) -> list[int]:
    """Frames whose background does not look like the shot's (a white flash, an impact frame, a
    fade): as stitching sources they would paint their light into every other frame's plate, and
    their own plate is stitched whole from the other frames (`ClassicalInpainter.stitch`).

    Each frame's visible background is compared with the shot's median plate (at ~480 px); a frame
    that differs by much more than the shot's typical frame is a stray.
    """
    shape = frames[0].shape
    s = model_scale(shape)
    plate, seen = build_plate(frames, transforms, hidden, s, len(frames))
    errors = []
    for f, t, h in zip(frames, transforms, hidden, strict=True):
        view = warp_to_frame(plate, t, shape, s).astype(np.int16)
        ok = warp_to_frame(seen, t, shape, s, cv2.INTER_NEAREST) > 0
        small = resize(np.asarray(f), s).astype(np.int16)
        ok &= resize(np.asarray(h, np.uint8), s, cv2.INTER_NEAREST) == 0
        if ok.sum() < 100:
            errors.append(np.inf)  # no background to compare: nothing to lend either
            continue
        errors.append(float(np.median(np.abs(small - view).max(axis=2)[ok])))
    typical = float(np.median([e for e in errors if np.isfinite(e)] or [0.0]))
    return [i for i, e in enumerate(errors) if e > max(12.0, 3.0 * typical)]


def _seen(hidden: NDArray[np.bool_]) -> NDArray[np.uint8]:
    """255 where a source frame shows its background: off what hides it and the pixel around that
    (`RING` there, 0 on what hides it). Not off the frame border, where a pan reveals new background
    (replicated by the warp)."""
    out = np.where(cv2.dilate(hidden.view(np.uint8), K3) > 0, RING, 255).astype(np.uint8)
    out[hidden] = 0
    return out


def flat_background(frame: Image, hidden: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The part of ``hidden`` (what a stage-1 mask says hides the background) that is the
    background's own flat fill carried on: flat pixels joined by flat pixels to flat background at
    least `FLOOD_FAR` px off the mask, within `FLOOD_DEPTH` px of its edge.

    A mask that lags a character that turned or moved away (or that takes a strip of background
    beside it) covers background this frame reveals; every other frame may hide it, and the plate
    then invented it. An anime character is enclosed by its line art, which no flat run crosses, so
    a flat run from the open background stops at the outline; starting only from background far
    from the mask keeps a part of a character that the mask missed (a sleeve beside the mask, flat
    too) from carrying the flood into the rest of the character's fill."""
    if not hidden.any():
        return np.zeros(hidden.shape, bool)
    scale = hidden.shape[0] / 480
    img = np.asarray(frame)
    spread = (cv2.dilate(img, K3).astype(np.int16) - cv2.erode(img, K3).astype(np.int16)).max(axis=2)
    flat = spread <= FLAT_LEVELS
    inside = cv2.distanceTransform(hidden.view(np.uint8), cv2.DIST_L2, 3)
    outside = cv2.distanceTransform((~hidden).view(np.uint8), cv2.DIST_L2, 3)
    allowed = hidden & flat & (inside <= FLOOD_DEPTH * scale)
    n, labels = cv2.connectedComponents((allowed | (~hidden & flat)).view(np.uint8), connectivity=8)
    good = np.zeros(n, bool)
    good[labels[~hidden & flat & (outside >= FLOOD_FAR * scale)]] = True
    good[0] = False
    return allowed & good[labels]


def matte_background(alpha: NDArray[np.uint8], mask: NDArray[np.bool_], levels: int = MATTE_CLEAR) -> NDArray[np.bool_]:
    """The pixels of ``mask`` (a frame's characters) that the frame's matte ``alpha`` (uint8) says
    are background: alpha below ``levels``, joined by such pixels (4-connected) to the background
    outside the mask.

    The matte cuts alpha to the outer edge of the character's own outline, where a stage-1 mask runs
    past it (a silhouette kept after the character turned, a strip of background beside it). A
    character's interior (eyes, a flat fill the matte judged background) is enclosed by its line
    art, whose alpha is high: no run of low alpha joins it to the outside, so it is never taken."""
    out = np.zeros(mask.shape, bool)
    box = grown_box(mask, 1)
    if box is None:
        return out
    low = np.asarray(alpha[box]) < levels
    inside = mask[box]
    n, labels = cv2.connectedComponents(low.view(np.uint8), connectivity=4)
    outer = np.zeros(n, bool)
    outer[labels[low & ~inside]] = True
    outer[0] = False
    out[box] = inside & outer[labels]
    return out


class Scratch:
    """Each thread's rows for the temporal fill's median, reused from plate to plate of one `stitch`:
    a fresh array of 30-90 MB per plate is paid again in page faults."""

    def __init__(self) -> None:
        self._local = threading.local()

    def rows(self, shape: tuple[int, int, int]) -> NDArray[np.uint8]:
        """An uninitialised uint8 array of ``shape``, this thread's own until its next call."""
        size = shape[0] * shape[1] * shape[2]
        buffer: NDArray[np.uint8] | None = getattr(self._local, "buffer", None)
        if buffer is None or buffer.size < size:
            buffer = self._local.buffer = np.empty(size, np.uint8)
        return buffer[:size].reshape(shape)


class ClassicalInpainter:
    """The inpaint stage's backend: temporal fill through the camera, spatial inpainting for the rest.

    Parameters
    ----------
    max_sources
        Frames of the shot sampled as sources (memory bound).
    min_votes
        Sources that must see a pixel as background before the temporal fill is trusted.
    hole_grow
        Pixels the hole is grown by (anti-aliased outlines and matte fringes belong to it).
    feather
        Width in pixels of the seam blend.
    refine
        Refine the camera to sub-pixel accuracy (`align.refine_camera`) before stitching.
    same_levels
        A source pixel this close to the target's own pixel inside the target's mask is the target's
        character, not background, when the source is a still view of it (`STILL_SHARE`); negative: no test.
    flood
        A source lends the flat background its mask covers (`flat_background`): a mask that lags
        a character that moved hides background that frame alone reveals.
    missed_parts
        A source pixel that shows what other sources' masks hold there, in a run joined to its own
        mask, is a part of a character its mask missed, not background (`plate_votes.missed_parts`).
    spatial
        Fills what no frame shows; Telea by default (see `PatchFillInpainter`).
    """

    name: ClassVar[str] = "classical"
    role: ClassVar[Role] = "inpainter"

    def __init__(
        self, *, max_sources: int = 16, min_votes: int = 1, hole_grow: int = 2, feather: int = 3,
        refine: bool = True, spatial: SpatialFill | None = None, same_levels: int = SAME_LEVELS,
        missed_parts: bool = True, flood: bool = True,
    ) -> None:
        self.flood = flood
        self.max_sources = max_sources
        self.min_votes = min_votes
        self.hole_grow = hole_grow
        self.feather = feather
        self.refine = refine
        self.same_levels = same_levels
        self.missed_parts = missed_parts
        self.spatial: SpatialFill = spatial or self.default_fill()

    @staticmethod
    def default_fill() -> SpatialFill:
        """The spatial fill used when none is passed."""
        return telea

    def load(self, device: str = "cpu") -> None:
        """Nothing to load."""

    def release(self) -> None:
        """Nothing to release."""

    def clean_plates(
        self, frames: Sequence[Image], holes: Sequence[Mask], transforms: Sequence[Matrix] | None = None
    ) -> list[Image]:
        """One clean plate per frame, ``holes[i]`` filled in ``frames[i]``.

        ``transforms`` (from `estimate_camera`) may be passed when already known.
        """
        return [plate for plate, _ in self.stitch(frames, holes, transforms)]

    def stitch(
        self, frames: Sequence[Image], holes: Sequence[Mask], transforms: Sequence[Matrix] | None = None,
        hidden: Sequence[Mask] | None = None, only: Sequence[int] | None = None,
        clear: Sequence[Mask | None] | None = None,
    ) -> list[tuple[Image, NDArray[np.uint8]]]:
        """Per frame, the clean plate and its confidence (`SEEN_HERE`, `SEEN_ELSEWHERE`, `INVENTED`).

        ``only`` (positions in ``frames``): the plates of those frames alone, in that order; the
        other frames still serve as sources (and settle the camera and the strays), so each plate is
        what stitching every frame would give it.

        ``hidden`` (default: the holes) is what really covers the background in each frame, tighter
        than the hole painted over (which also takes the soft fringe): a source frame gives every
        pixel outside its ``hidden`` but one, so a background pixel that any frame reveals is used;
        but not where it shows, inside frame ``i``'s ``hidden``, frame ``i``'s own character
        (`SameAsTarget`, with ``hidden`` given only).

        ``clear`` (per frame, or None): the pixels of its ``hidden`` that its matte says are
        background beyond the character's outline (`matte_background`); as a source the frame lends
        them too. A mask that keeps a character's old silhouette after it turned covers background
        that frame alone reveals, which the plate otherwise invented. The frame's own hole is unchanged.
        """
        n = len(frames)
        if n == 0:
            return []
        hole_list = [np.asarray(h, bool) for h in holes]
        hidden_list = hole_list if hidden is None else [np.asarray(h, bool) for h in hidden]
        # The holes are the foreground: keeping them out of the camera estimate keeps large
        # characters from pulling it.
        ts = list(transforms) if transforms is not None else estimate_camera(frames, foreground=hole_list)
        strays = set(stray_frames(frames, ts, hidden_list)) if n >= 3 else set()
        if transforms is None and self.refine:
            # Strays stay out of the plate the others are aligned to (and keep their estimate).
            everything = np.ones(hole_list[0].shape, bool)
            ts = refine_camera(frames, ts, [everything if i in strays else h for i, h in enumerate(hole_list)])
        src_idx = [j for j in sample_indices(n, self.max_sources) if j not in strays]
        # Sources drop only what hides the background (and, below, one pixel more): growing them as
        # much as the hole being filled starves the fill exactly where a character just moved away.
        # One pixel off what hides the background (its soft fringe): two would lose a ring of
        # revealed background around every character, none lets the fringe into the plate.
        def lends(j: int) -> NDArray[np.bool_]:
            # What hides source j's background, less the flat background its mask took and the
            # background its matte found inside it.
            h = hidden_list[j]
            out = h & ~flat_background(np.asarray(frames[j]), h) if self.flood else h
            matte = None if clear is None else clear[j]
            return out if matte is None else out & ~np.asarray(matte, bool)

        sources = [(np.asarray(frames[j]), _seen(lends(j)), ts[j]) for j in src_idx]
        wanted = range(n) if only is None else only
        scratch = Scratch()

        def plate(i: int) -> tuple[Image, NDArray[np.uint8]]:
            frame = np.asarray(frames[i])
            hole = self._grow(hole_list[i])
            whole = i in strays and bool(src_idx)  # strays are no sources
            if whole:
                # A flash or an impact frame (redrawn in two inks) shows no pixel of the background
                # as it is: its whole plate comes from the other frames, else it keeps the inked wall
                # (generated impact frames: plates at 10-15 dB against 25-28 dB for their neighbours).
                # With no other frame to stitch from it keeps its own picture: a whole-frame Telea is no plate.
                hole = np.ones(hole.shape, bool)
            confidence = np.full(hole.shape, SEEN_HERE, np.uint8)
            # Everything happens in the hole's box and what the blend and the spatial fill read
            # around it; the rest of the plate is the frame.
            reach = self._reach()
            win = grown_box(hole, max(hole.shape) if reach is None else reach)
            if win is None:
                return frame.copy(), confidence
            others = [(f, ok, t) for j, (f, ok, t) in zip(src_idx, sources, strict=True) if j != i]
            # Only with ``hidden`` given: a hole holds a ring of background the frame itself shows,
            # which every still source would match.
            target = None if hidden is None or whole else (frame, hidden_list[i])
            fill, votes = self._temporal_fill(hole, win, ts[i], others, scratch, target)
            trusted = votes >= self.min_votes
            hole_w, frame_w = hole[win], frame[win]
            rest = np.zeros(hole.shape, bool)
            rest[win] = hole_w & ~trusted
            base = frame.copy()
            base[win] = np.where(trusted[..., None], fill, frame_w)
            if rest.any():
                # Inpainted from the frame plus the temporal fill, so it continues the real background.
                base = self.spatial(base, rest)
            confidence[hole] = SEEN_ELSEWHERE
            confidence[rest] = INVENTED
            out = frame.copy()
            out[win] = self._blend(frame_w, base[win], hole_w)
            return out, confidence

        # Frames are independent once the camera is known; OpenCV and numpy release the GIL.
        with ThreadPoolExecutor(max(1, min(os.cpu_count() or 1, len(wanted)))) as pool:
            return list(pool.map(plate, wanted))

    def _reach(self) -> int | None:
        """Pixels beyond the hole whose fill the plate reads: the feather ramp, and around what the
        spatial fill invents, what it looks at (Telea: `TELEA_REACH`); None for a spatial fill that
        may look at the whole image (LaMa). The exemplar fill reads further, but beyond this reach the
        plate it is handed is the frame itself, which there shows the background."""
        return max(self.feather + 2, TELEA_REACH) if self.spatial in (telea, exemplar_fill) else None

    def _grow(self, hole: NDArray[np.bool_]) -> NDArray[np.bool_]:
        if self.hole_grow <= 0 or not hole.any():
            return hole
        return np.asarray(cv2.dilate(hole.astype(np.uint8), K3, iterations=self.hole_grow) > 0)

    def _temporal_fill(
        self,
        hole: NDArray[np.bool_],
        win: Window,
        t_i: Matrix,
        others: list[tuple[Image, NDArray[np.uint8], Matrix]],
        scratch: Scratch | None = None,
        target: tuple[Image, NDArray[np.bool_]] | None = None,
    ) -> tuple[Image, NDArray[np.int32]]:
        """The median of the sources over ``win`` (computed where the plate reads it: the hole grown
        by `_reach`, inside the hole's box; elsewhere 0) and how many sources see each pixel.

        ``target`` (the frame and what hides its background) leaves out the source pixels that show
        the target's own characters (`SameAsTarget`)."""
        top, left = win[0].start, win[1].start
        h, w = win[0].stop - top, win[1].stop - left
        fill = np.zeros((h, w, 3), np.uint8)
        votes = np.zeros((h, w), np.int32)
        box = grown_box(hole, 0)
        if not others or box is None:
            return fill, votes
        # Only the hole's bounding box needs sources: warp into that box alone.
        y0, y1, x0, x1 = box[0].start, box[0].stop, box[1].start, box[1].stop
        at = np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
        # The median only where it is read: a character fills half its box, an effect much less.
        reach = self._reach()
        if reach is None:
            read = np.ones((y1 - y0, x1 - x0), bool)
        else:
            read = cv2.dilate(hole[box].view(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)) > 0
        at_read = np.flatnonzero(read)
        ys, xs = np.divmod(at_read, x1 - x0)
        # Where each source sees the background: warpAffine's nearest over the box (~1.5 ns a pixel)
        # unless what is read is a small part of it (thin effects), then at those pixels alone.
        dense = len(at_read) * 8 >= read.size
        # The median's input as planar rows (source, channel, pixel), padded as `masked_median` pads:
        # where a source does not see the background it holds 0 or 255 by the parity of how many
        # sources so far did not. A source's bicubic samples are taken only where it sees the
        # background (about half the pixels of a character's hole): the rest would be padded over.
        shape = (len(others), 3, len(at_read))
        planar = np.empty(shape, np.uint8) if scratch is None else scratch.rows(shape)
        unseen = np.zeros(len(at_read), np.uint8)
        again = None if target is None or self.same_levels < 0 else SameAsTarget(*target, box, ys, xs, self.same_levels)
        # Frame i pixel -> plate (t_i) -> frame j pixel (inverse t_j), restricted to the box.
        moves = [(np.linalg.inv(t_j) @ t_i @ at)[:2] for _, _, t_j in others]
        codes = np.stack([
            cv2.warpAffine(ok, m, read.shape[::-1], flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                           borderValue=BEYOND).reshape(-1)[at_read]
            if dense else warp_pixels(ok, m, ys, xs, cubic=False)
            for (_, ok, _), m in zip(others, moves, strict=True)])
        seen_all = codes == 255
        if dense and self.missed_parts and len(others) > MATCHES:
            # Parts of characters a source's mask missed, which other sources' masks hold (dense
            # reads only: a thin effect's hole has no room for a missed part).
            def nearest(idx: NDArray[np.intp]) -> NDArray[np.uint8]:
                # Each source's colour at the read pixels ``idx`` (often a tenth of them): at those
                # pixels alone, or over the box as the codes are warped where they are many (the
                # same values: `warp_pixels` is warpAffine's nearest, 0 off the source).
                if len(idx) * 8 < read.size:
                    return np.stack([warp_pixels(src, m, ys[idx], xs[idx], cubic=False)
                                     for (src, _, _), m in zip(others, moves, strict=True)])
                at_idx = at_read[idx]
                return np.stack([
                    cv2.warpAffine(src, m, read.shape[::-1], flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                                   borderValue=0).reshape(-1, 3)[at_idx]
                    for (src, _, _), m in zip(others, moves, strict=True)])

            seen_all &= ~missed_parts(nearest, seen_all, codes == 0, read.shape, at_read, hole.shape[0])
        for k, ((src, _, _), m) in enumerate(zip(others, moves, strict=True)):
            seen = seen_all[k]
            at_seen = np.flatnonzero(seen)  # integer positions: ~5x a boolean mask's gather and scatter
            # Bicubic: a bilinear shift by half a pixel is a blur that costs dB on painted texture.
            colours = warp_pixels(src, m, ys[at_seen], xs[at_seen])
            if again is not None and again.still(src, m, seen):
                same = again.same(at_seen, colours)
                seen[at_seen[same]] = False
                at_seen, colours = at_seen[~same], colours[~same]
            unseen += ~seen
            pad = unseen & 1
            pad -= 1  # uint8 wraps: an odd count pads with 0, an even one with 255
            planar[k] = pad
            for c in range(3):
                planar[k, c, at_seen] = colours[:, c]
        # The read pixels' positions in the window (the box lies inside it).
        in_win = (ys + (y0 - top)) * w + (xs + (x0 - left))
        middle = median_rows(planar)
        for c in range(3):
            fill.reshape(-1, 3)[in_win, c] = middle[c]
        # Votes outside what is read are never looked at either.
        votes.reshape(-1)[in_win] = len(others) - unseen.astype(np.int32)
        return fill, votes

    def _blend(self, frame: Image, filled: Image, hole: NDArray[np.bool_]) -> Image:
        """Filled inside the hole, the frame outside, a feathered ramp just outside the hole."""
        if self.feather <= 0:
            return np.where(hole[..., None], filled, frame).astype(np.uint8)
        dist = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, 3)
        # Inside the hole the weight is 1 (filled, exactly), from feather + 1 out it is 0 (the frame):
        # the float blend is needed on the ramp between alone, a thin ring round the hole.
        out = frame.copy()
        flat, filled_flat, frame_flat = out.reshape(-1, 3), filled.reshape(-1, 3), frame.reshape(-1, 3)
        inside = np.flatnonzero(hole)
        flat[inside] = filled_flat[inside]
        ramp = np.flatnonzero((dist > 0) & (dist < self.feather + 1))
        a = np.clip(1.0 - dist.reshape(-1)[ramp] / float(self.feather + 1), 0.0, 1.0)[:, None]
        mixed = a * filled_flat[ramp].astype(np.float32) + (1.0 - a) * frame_flat[ramp].astype(np.float32)
        flat[ramp] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
        return out


class SameAsTarget:
    """Source pixels that show the target frame's own characters, where masks missed a part of them.

    Stage 1 masks miss parts of characters (an arm, a hat) in some frames and not in others. Where
    the target's mask covers such a part, a source whose mask missed it "sees background" there and
    shows the part again: the plate would keep the character. On a still shot (a held drawing, a
    talking head) that source shows the target's characters where they are in the target: inside
    the target's mask it has the target's own colours. Background really revealed (a character that
    moved away) differs from the character that hides it, except where their colours happen to be
    close; so the test is only made for a source that is a still view of the target's characters
    (`STILL_SHARE` of the pixels both masks cover agree), and a pixel it drops that no other source
    shows is invented, honestly, instead of stitched.

    ``box`` and ``ys, xs``: the read pixels (`ClassicalInpainter._temporal_fill`) in the box's
    coordinates; ``levels``: `SAME_LEVELS`.
    """

    def __init__(
        self, frame: Image, hidden: NDArray[np.bool_], box: Window, ys: NDArray[np.intp], xs: NDArray[np.intp],
        levels: int,
    ) -> None:
        rows, cols = ys + box[0].start, xs + box[1].start
        self.inside = np.asarray(hidden[rows, cols], bool)
        self.own = np.asarray(frame[rows, cols], np.int16)
        self.ys, self.xs = ys, xs
        self.levels = levels

    def still(self, src: Image, m: NDArray[np.float64], seen: NDArray[np.bool_]) -> bool:
        """Whether the source (warped by ``m``; ``seen``: where it shows background) shows the
        target's characters where they are: most pixels both masks cover have the target's colours."""
        both = np.flatnonzero(self.inside & ~seen)
        both = both[:: max(1, len(both) // STILL_SAMPLE)]
        if len(both) < 50:  # too little overlap to say: the characters moved
            return False
        colours = warp_pixels(src, m, self.ys[both], self.xs[both], cubic=False)
        return float(self._close(colours, self.own[both]).mean()) >= STILL_SHARE

    def same(self, at: NDArray[np.intp], colours: NDArray[np.uint8]) -> NDArray[np.bool_]:
        """Of a source's seen pixels (positions ``at`` among the read ones, their warped colours),
        those inside the target's mask with the target's own colour."""
        out = self.inside[at]
        ins = np.flatnonzero(out)  # colours compared there alone: the rest shows background in the target
        out[ins] = self._close(colours[ins], self.own[at[ins]])
        return out

    def _close(self, colours: NDArray[np.uint8], own: NDArray[np.int16]) -> NDArray[np.bool_]:
        return np.asarray(np.abs(colours.astype(np.int16) - own).max(axis=1) <= self.levels)


class PatchFillInpainter(ClassicalInpainter):
    """The classical inpainter with the exemplar fill for what no frame shows.

    A menu choice, not the default: on generated shots over real anime plates it is mixed against
    Telea (invented-pixel PSNR 15.9 vs 16.1 dB and 20.8 vs 18.7 dB on held-out seeds 505 / 606) and
    costs about twice as much on a 640x480 clip, but where a still camera leaves a third of the plate
    invented it continues the wall's texture and lines instead of a smooth blob.
    """

    name: ClassVar[str] = "patchfill"

    @staticmethod
    def default_fill() -> SpatialFill:
        return exemplar_fill
