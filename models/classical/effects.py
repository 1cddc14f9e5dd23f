"""Weight-free effect separation (the effects stage).

Anime effects (glows, sparks, flashes, speed streaks) are mostly composited *additively*: the
frame is brighter than the background behind it in every channel, with soft edges and no dark
outline. With a background plate aligned to the frame we measure that brightening directly. Where
there is none (no plate, or the inpaint stage's plate, which is the frame itself outside its holes),
only thin bright structures (speed lines, sparks) are told apart, by a morphological opening; a
flash is recognised by its lifted blacks. Effects are short-lived, so `effect_time.suppress_persistent`
removes detections that stay put through a shot.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Mask, Role, SoftMap
from models.classical.camera import estimate_camera
from models.classical.effect_far import far_reference
from models.classical.effect_highlights import drawn_fills
from models.classical.effect_light import (
    Box,
    EffectLight,
    clear_unlit,
    flat_light,
    light_box,
    mask_box,
    separate_light,
)
from models.classical.effect_palette import inner, shot_palette
from models.classical.effect_tails import light_tails_in_mask
from models.classical.effect_time import (
    explained,
    flow_greys,
    keep_lasting_groups,
    middle,
    motion_neighbours,
    suppress_persistent,
    upsample_box,
)
from models.classical.geometry import Matrix, model_scale, resize
from models.classical.inpaint import stray_frames
from models.classical.morphology import dilate_boxed
from models.classical.plate import build_plate, masked_median, plate_stack, sample_indices, warp_to_frame


def _cmax(x: NDArray[Any]) -> NDArray[Any]:
    """Largest channel; numpy's reductions over a length-3 last axis are ~5x slower, and even
    element-wise maxima of its strided channels 2-5x slower than OpenCV's split into planes."""
    if x.ndim == 3 and x.shape[2] == 3 and x.dtype in (np.uint8, np.float32):
        a, b, c = cv2.split(x)
        return np.asarray(cv2.max(cv2.max(a, b), c))
    return np.maximum(np.maximum(x[..., 0], x[..., 1]), x[..., 2])


def _cmin(x: NDArray[Any]) -> NDArray[Any]:
    """Smallest channel (see `_cmax`)."""
    if x.ndim == 3 and x.shape[2] == 3 and x.dtype in (np.uint8, np.float32):
        a, b, c = cv2.split(x)
        return np.asarray(cv2.min(cv2.min(a, b), c))
    return np.minimum(np.minimum(x[..., 0], x[..., 1]), x[..., 2])


def _lookup(table: NDArray[Any], index: NDArray[np.uint8]) -> NDArray[Any]:
    """``table[index]`` for a 256-entry table and a uint8 (H, W) index, by OpenCV's LUT (4x cheaper
    than numpy's fancy indexing)."""
    return np.asarray(cv2.LUT(index, np.ascontiguousarray(table)))


def _not_darker_ramp(darker: NDArray[np.uint8], slack: float) -> NDArray[Any]:
    """``clip((lowest + slack) / slack, 0, 1)`` per pixel, ``lowest = -darker`` (`_darkening`), by a
    256-entry table: the same float32 figures as computing it per pixel."""
    lowest = -np.arange(256, dtype=np.float32)
    return _lookup(np.clip((lowest + slack) / slack, 0.0, 1.0), darker)


def _darkening(image: Image, under: Image) -> NDArray[np.uint8]:
    """By how many levels the channel of ``image`` that got darkest against ``under`` is below it,
    both blurred 3x3 (0 where none got darker): ``-min(0, min over channels of the difference)``
    from one saturated uint8 subtraction, not a float difference and a strided minimum."""
    return np.asarray(_cmax(cv2.subtract(cv2.GaussianBlur(under, (3, 3), 0), cv2.GaussianBlur(image, (3, 3), 0))),
                      np.uint8)


def additive_strength(image: Image, background: Image, gain: float = 30.0, slack: float = 10.0) -> SoftMap:
    """Soft map of how much ``image`` looks like ``background`` plus light.

    Strength rises with the luminance gain (``gain`` levels give 1.0) and is cut where any channel
    got darker than the background by more than ``slack`` levels (outlines, shadows, characters).
    """
    img = cv2.GaussianBlur(image, (3, 3), 0)
    bgf = cv2.GaussianBlur(background, (3, 3), 0)
    d = cv2.subtract(img, bgf, dtype=cv2.CV_32F)  # whole numbers: img - bgf in float32 exactly
    lum = d @ np.array([0.299, 0.587, 0.114], np.float32)
    # The slack factor depends on the lowest channel difference alone: a table over its 256 values.
    s = np.clip(lum / gain, 0.0, 1.0) * _not_darker_ramp(_cmax(cv2.subtract(bgf, img)), slack)
    return np.asarray(s, np.float32)


def not_darker(image: Image, under: Image, slack: float = 10.0) -> SoftMap:
    """1 where no channel of ``image`` is darker than ``under`` by more than ``slack`` levels, falling
    to 0 at twice that: added light never darkens (outlines, shadows and characters do)."""
    return np.asarray(_not_darker_ramp(_darkening(image, under), slack), np.float32)


def _brightness_ramp() -> NDArray[np.float32]:
    """How bright light must be in absolute terms, by the pixel's largest channel (a table over
    0..255: the same float32 figures as computing it per pixel)."""
    v = np.arange(256, dtype=np.uint8).astype(np.float32) / 255.0
    return np.asarray(np.clip((v - 0.3) / 0.25, 0.0, 1.0), np.float32)


BRIGHT = _brightness_ramp()


def estimate_background(image: Image, character_mask: Mask | None, margin: float = 0.0) -> Image:
    """A stand-in background: characters (grown by ``margin`` of the short side, so that an aura
    hugging them is not smeared into the fill) inpainted, then bright thin/small things
    median-filtered out."""
    h, w = image.shape[:2]
    return np.asarray(cv2.resize(_small_background(image, character_mask, margin), (w, h),
                                 interpolation=cv2.INTER_LINEAR), np.uint8)


def _small_background(image: Image, character_mask: Mask | None, margin: float = 0.0) -> Image:
    """`estimate_background` at its working scale (~240 px), before it is resized to the frame."""
    s = model_scale(image.shape, 240)
    small = resize(image, s)
    if character_mask is not None and character_mask.any():
        m = resize(character_mask.astype(np.uint8) * 255, s, cv2.INTER_NEAREST)
        r = max(1, round(margin * min(small.shape[:2])))
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        small = cv2.inpaint(small, cv2.dilate(m, disk), 3, cv2.INPAINT_TELEA)
    k = max(3, int(0.12 * max(small.shape[:2])) | 1)
    k = min(k, 99)  # medianBlur on uint8 accepts any odd size; keep it affordable
    return np.asarray(cv2.medianBlur(small, k), np.uint8)


def thin_removed(image: Image, width: float = 0.03) -> Image:
    """The frame with bright structures thinner than ``width`` of the short side opened away."""
    s = model_scale(image.shape, 480)
    small = resize(image, s)
    r = max(2, round(width * min(small.shape[:2]) / 2))  # a 1-2 px anti-aliased line needs 5 px
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    bg = cv2.morphologyEx(small, cv2.MORPH_OPEN, disk)
    h, w = image.shape[:2]
    return np.asarray(cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR), np.uint8)


def plate_support(image: Image, plate: Image, character_mask: Mask) -> Mask:
    """Where ``plate`` tells something about the background behind ``image``.

    A full plate (built from other frames) differs from the frame wherever anything moves over the
    background, and is trusted everywhere. The inpaint stage's clean plate is the frame itself
    outside its holes: comparing a frame to itself shows no effect, so only the filled pixels (where
    the plate differs) are trusted, and a stand-in background is used elsewhere.
    """
    differs = _cmax(cv2.absdiff(image, plate)) > 2  # |a - b| of uint8 in uint8: exact, 4x cheaper than int16
    r = max(2, round(0.03 * min(character_mask.shape)))
    near = dilate_boxed(character_mask.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0
    far = near.size - np.count_nonzero(near)
    # The share of far pixels that differ, as `differs[~near].mean()` gives it, without the indexing.
    if far == 0 or np.count_nonzero(differs & ~near) / far > 0.002:
        return np.ones(character_mask.shape, bool)  # the plate differs away from the characters
    return np.asarray(cv2.dilate(differs.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)


def band_plate(frames: Sequence[Image], transforms: Sequence[Matrix], masks: Sequence[Mask],
               grown: Sequence[Mask], seen: NDArray[np.uint16],
               max_frames: int) -> tuple[Image, NDArray[np.uint16]]:
    """The background in the band round the characters that the shot's plate keeps out (``grown``:
    its masks; ``seen``: its coverage, the scale-1 plate canvas), as `build_plate` gives it with the
    characters' own ``masks`` (grown by its 2 px); zero (and a count of 0) elsewhere.

    Where the plate saw nothing, each frame's estimate from itself (`_small_background`, a wide
    median) loses thin bright background (a white collar between two characters reads as light
    there); the frames that show the band know it. Frames the plate leaves out whole (``grown``
    all set: flashes, impact frames) stay out. Only the box of the unseen pixels that some frame
    shows is worked on (a few percent of the canvas)."""
    ph, pw = seen.shape
    plate = np.zeros((ph, pw, 3), np.uint8)
    count = np.zeros((ph, pw), np.uint16)
    idx = [i for i in sample_indices(len(frames), max_frames) if not grown[i].all()]
    # The grown masks' boxes carried into the canvas: the band lies inside them.
    boxes = [(i, b) for i, b in ((i, mask_box(grown[i])) for i in idx) if b is not None]
    if not boxes:
        return plate, count
    pts = np.concatenate([(np.asarray(transforms[i], np.float64) @ np.array(
        [[b[2], b[2], b[3], b[3]], [b[0], b[1], b[0], b[1]], [1, 1, 1, 1]], np.float64))[:2] for i, b in boxes], 1)
    x0, y0 = max(0, int(np.floor(pts[0].min()))), max(0, int(np.floor(pts[1].min())))
    x1, y1 = min(pw, int(np.ceil(pts[0].max())) + 1), min(ph, int(np.ceil(pts[1].max())) + 1)
    if x1 <= x0 or y1 <= y0:
        return plate, count
    unseen = seen[y0:y1, x0:x1] == 0
    if not unseen.any():
        return plate, count
    grow = np.ones((3, 3), np.uint8)
    stack, valid = plate_stack([np.asarray(frames[i]) for i in idx], [transforms[i] for i in idx],
                               [cv2.dilate(np.asarray(masks[i], np.uint8), grow, iterations=2) > 0 for i in idx],
                               (x0, y0, x1, y1))
    valid &= unseen
    plate[y0:y1, x0:x1] = masked_median(stack, valid)
    count[y0:y1, x0:x1] = valid.sum(axis=0)
    return plate, count


def character_box(mask: Mask, margin: int = 2) -> Box | None:
    """The box of ``mask`` with ``margin`` px around it (clipped to the frame), None when empty: what
    `ClassicalEffectSeparator.separate_light` needs of a drawing: it is read only inside the mask
    eroded by 1 px, through a 3x3 blur and a 1-px reach, so any margin >= 0 gives the whole frame's
    figures (2 is to spare)."""
    return mask_box(np.asarray(mask), margin)


def flash_strength(image: Image) -> float:
    """Strength of a whole-frame flash: light lifting every pixel towards white.

    Anime frames always hold some near-black (line art, shadows); a flash of strength f lifts black
    to ``255 f`` and leaves at most ``(1 - f)`` of the colour range. Both must hold.
    """
    small = resize(image, model_scale(image.shape, 160))
    lo = _cmin(small).astype(np.float32)
    chroma = _cmax(small).astype(np.float32) - lo
    black = float(np.percentile(lo, 0.5))
    f = black / 255.0
    if float(np.percentile(chroma, 99.5)) > (1.0 - f) * 255.0 + 25.0:
        return 0.0
    return float(np.clip((f - 0.3) / 0.1, 0.0, 1.0) * f)


class ClassicalEffectSeparator:
    """The effects stage's backend: light added over the background plate, as a strength in [0, 1].

    Parameters
    ----------
    gain
        Luminance gain (0..255 levels) that counts as full strength; 140 is a bright effect colour
        (luminance ~200) at 70% opacity, so strength 0.25 needs ~35 levels of added light.
    min_area
        Detections smaller than this fraction of the frame are dropped (noise, specular dots,
        bright painted details that the thin-structure fallback picks up).
    width
        Without a plate, bright structures thinner than this fraction of the short side are the
        candidate effects (speed lines, sparks); wider ones are taken as background.
    fringe
        Pixels this close to a character, where no plate is known, are character fringe.
    streak
        A detection this long (fraction of the short side) and thin that lasts two frames is kept
        however few its pixels (`effect_time.keep_lasting_groups`): a speed line or a spark's trail.
    fill_share
        Over a character, a colour that this share of the shot's character pixels has (with the bins
        round it, `effect_palette`) is one of its fills, not light (0: off).
    fill_unlit
        The fills are counted in the shot's frames without light when it has at least this many
        (after the first pass, with ``far``), else in all its frames (0: always all): a light that
        lasts and holds still makes its lit colours frequent too.
    least
        In a shot, a frame whose light at strength 0.25 covers less than this fraction of it, all
        together, holds none (0: off; `_specks_are_no_light`).
    explain_tol
        Over a character, light that a warped neighbour shows within a pixel and this many levels in
        every channel is the drawing misplaced by the flow (`effect_time.explained`).
    tail_fill
        Inside a mask, light read against the plate that continues found light is kept where the colour
        is not one of the shot's character fills, a colour that this share of its character pixels has
        (`effect_tails`: the glow the mask took in; 0: off).
    far, far_tol
        A shot's lit frames are measured again over the characters against up to ``far`` of the
        nearest frames without light, per pixel where one's fine structure matches within ``far_tol``
        and better than the near frames' median's (`effect_far.far_reference`; 0: off).
    guess_fringe
        No light within this many px outside a character's mask where no frame saw the background and
        the reference is the frame's own guess (`_guesses_are_no_light`; 0: off). 4 took onepiece_demo.mp4's
        false light from 101,588 to 27,237 px at 0.25 and moved the layer-quality tuning seeds' effects
        IoU 0.3581 -> 0.3605 (2: 45,658 px; 6: 25,443 px, the same IoU). The clean plate, which paints
        light out, lost 0.24 dB on `eval layers` 46-48: that false light had widened its hole over the
        characters' fringe the masks miss.
    highlight_tol
        Over a character, a hard-edged group of light whose pixels the frame shows unlit within 3 px, to
        this many levels, is the character's own fill redrawn (`effect_highlights.drawn_fills`: teeth,
        glints; 0: off). 16 took onepiece_demo.mp4's light inside the masks, replayed on its recorded
        inputs, from 3,526 to 115 px at 0.25 per drawing (10 leaves 3,034 of the whole layer's 4,323: a
        compressed sliver is 10-16 levels off the fill beside it); the layer-quality tuning seeds'
        effects IoU 0.3619 -> 0.3613 (404: a speed line's pieces), pooled 0.3568 -> 0.3575.
    """

    name: ClassVar[str] = "classical"
    role: ClassVar[Role] = "effects"

    def __init__(self, *, gain: float = 140.0, min_area: float = 0.002, width: float = 0.02,
                 fringe: int = 2, streak: float = 0.1, fill_share: float = 0.02, least: float = 0.001,
                 explain_tol: float = 16.0, far: int = 4, far_tol: float = 96.0, fill_unlit: int = 2,
                 tail_fill: float = 0.002, guess_fringe: int = 4, highlight_tol: float = 16.0) -> None:
        self.highlight_tol = highlight_tol
        self.guess_fringe = guess_fringe
        self.tail_fill = tail_fill
        self.fill_unlit = fill_unlit
        self.far = far
        self.far_tol = far_tol
        self.explain_tol = explain_tol
        self.least = least
        self.gain = gain
        self.fill_share = fill_share
        self.streak = streak
        self.min_area = min_area
        self.width = width
        self.fringe = fringe

    def load(self, device: str = "cpu") -> None:
        """Nothing to load."""

    def release(self) -> None:
        """Nothing to release."""

    def separate(
        self, image: Image, character_mask: Mask, plate: Image | None, drawing: Image | None = None
    ) -> SoftMap:
        """Per-pixel effect strength (the alpha of `separate_light`)."""
        return self.separate_light(image, character_mask, plate, drawing).strength

    def separate_light(
        self, image: Image, character_mask: Mask, plate: Image | None, drawing: Image | None = None,
        alone: bool = True, neighbours: Sequence[Image] = (), box: Box | None = None,
    ) -> EffectLight:
        """The light layer (colour per effect, strength per pixel); ``plate`` must be frame-aligned
        (same shape) to be used.

        ``drawing`` (optional) is the characters as neighbouring frames show them,
        motion-compensated (`motion_reference`): light over a character is measured against it.
        It is frame-aligned, or covers only ``box`` (`character_box`: the characters and a margin).
        ``alone``: small isolated detections are dropped here; a shot drops them through time instead
        (`keep_lasting_groups`). ``neighbours`` (the warped frames ``drawing`` is the median of, over
        the same pixels): light over a character that one of them shows within a pixel is the
        drawing misplaced by the flow."""
        mask = np.asarray(character_mask, bool)
        if mask.shape != image.shape[:2]:
            mask = np.zeros(image.shape[:2], bool)
        flash = flash_strength(image)
        if flash > 0.0:
            # The whole frame is lit: no part of it is a background reference.
            return flat_light(image.shape, flash)
        # Without a plate, only thin bright things (streaks, sparks, rims) can be told from the
        # background: an opening removes them, and what it removed is the candidate light.
        trusted = np.zeros(mask.shape, bool)
        aligned = plate if plate is not None and plate.shape == image.shape else None
        if aligned is not None:
            trusted = plate_support(image, aligned, mask)
        if aligned is not None and trusted.all():
            under = aligned  # a full plate is trusted everywhere: the opening would not be read
        else:
            under = thin_removed(image, self.width)
            if aligned is not None:
                under = np.where(trusted[..., None], aligned, under)
        s = additive_strength(image, under, self.gain)
        # The brightening must also be visible in absolute terms: effects are bright.
        bright = _lookup(BRIGHT, _cmax(image))
        s *= bright
        allowed = np.ones(mask.shape, bool)
        if mask.any():
            # Beyond the mask, a bright character's colour bleeds over its outline (fringe, blur):
            # excluded, except where a plate shows what the background there really is.
            r = self.fringe
            near = dilate_boxed(mask.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0
            allowed = ~(mask | (near & ~trusted))
            np.multiply(s, allowed, out=s)  # s >= 0: the same as zeroing where not allowed, 3x cheaper
            if box is None:
                box = (0, image.shape[0], 0, image.shape[1])
            at = np.s_[box[0] : box[1], box[2] : box[3]]
            if drawing is not None and drawing.shape == image[at].shape:
                # Over a character the reference is the same drawing in other frames: short-lived
                # light (sparks, streaks over it) is what they do not show. All of it is measured
                # in the box: the 3x3 blur and the 1-px reach of `explained` stay inside its margin.
                inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
                inside = inner[at]
                over = additive_strength(image[at], drawing, self.gain) * bright[at]
                if neighbours:
                    over[explained(image[at], neighbours, inside & (over > 0), tol=self.explain_tol)] = 0.0
                s[at][inside] = over[inside]
                under = under.copy()
                np.copyto(under[at], drawing, where=inside[..., None])  # 2x a boolean index's speed
                allowed |= inner
        # The light layer is 0 away from the detections: `keep` is needed only in their box (with
        # 1 px more for its 3x3 blur).
        keep = np.zeros(mask.shape, np.float32)
        detected = self._drop_specks(s) if alone else s
        near_light = light_box(detected, margin=1)
        if near_light is not None:
            at = np.s_[near_light[0] : near_light[1], near_light[2] : near_light[3]]
            # How bright the frame is gates the detection (above), not the strength: faint light over a
            # dark background is as strong as its projection says.
            keep[at] = not_darker(image[at], under[at]) * allowed[at]
        light = separate_light(image, under, detected, keep)
        strength = np.clip(self._drop_specks(light.strength) if alone else light.strength, 0.0, 1.0)
        clear_unlit(light.colour, strength)
        return EffectLight(np.asarray(strength, np.float32), light.colour)

    def separate_shot(
        self,
        frames: Sequence[Image],
        character_masks: Sequence[Mask],
        transforms: Sequence[Matrix] | None = None,
        max_plate_frames: int = 16,
        text: Sequence[Mask] | None = None,
    ) -> list[SoftMap]:
        """Effect strengths for a whole shot (the alphas of `separate_shot_light`)."""
        return [light.strength for light in self.separate_shot_light(frames, character_masks, transforms,
                                                                     max_plate_frames, text)]

    def separate_shot_light(
        self,
        frames: Sequence[Image],
        character_masks: Sequence[Mask],
        transforms: Sequence[Matrix] | None = None,
        max_plate_frames: int = 16,
        text: Sequence[Mask] | None = None,
    ) -> list[EffectLight]:
        """Light layers for a whole shot: a median plate without the characters is the background
        (short-lived effects fall out of the median), then `suppress_persistent`. ``text``: burnt-in
        text per frame (captions), where no light is read."""
        if len(frames) == 0:
            return []
        ts = list(transforms) if transforms is not None else estimate_camera(frames, foreground=character_masks)
        shape = frames[0].shape
        plate: Image | None = None
        seen: NDArray[np.uint16] | None = None
        band: Image | None = None
        band_seen: NDArray[np.uint16] | None = None
        strays: set[int] = set()
        if len(frames) >= 3:
            # Auras and sparks hug the characters: keep a band around them out of the median too,
            # or a slow character's aura is burnt into the plate.
            r = max(3, int(0.03 * min(shape[:2])))
            disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
            grown = [dilate_boxed(np.asarray(m, np.uint8), disk) > 0 for m in character_masks]
            # Flashes and impact frames are no view of the background: with a few frames of speed
            # lines they would outvote it in the median.
            for j in stray_frames(frames, ts, grown):
                grown[j] = np.ones(shape[:2], bool)
                strays.add(j)
            kept_out = list(character_masks)
            if text is not None:
                # Burnt-in text is no view of the background either: a caption shown through most of
                # the shot is burnt into the median, and a frame without it (or with another) reads the
                # places of its dark rims as light (onepiece_demo.mp4 frames 83-99: 11,000 false px).
                ring = np.ones((2 * self.fringe + 3, 2 * self.fringe + 3), np.uint8)
                for j, glyphs in enumerate(text):
                    if np.any(glyphs):
                        on = dilate_boxed(np.asarray(glyphs, np.uint8), ring) > 0
                        grown[j] = grown[j] | on
                        kept_out[j] = np.asarray(kept_out[j], bool) | on
            plate, seen = build_plate(frames, ts, grown, 1.0, max_plate_frames)
            band, band_seen = band_plate(frames, ts, kept_out, grown, seen, max_plate_frames)
        greys = flow_greys(frames) if len(frames) >= 3 else None

        def reference(i: int) -> tuple[Image, Mask] | None:
            """The background under frame ``i`` and where it is the frame's own guess: the shot's plate,
            the band, and the frame's own estimate where nobody saw it (None for a shot too short for a
            plate)."""
            if plate is None or seen is None:
                return None
            frame = np.asarray(frames[i])
            ref = np.asarray(warp_to_frame(plate, ts[i], shape, 1.0), np.uint8)
            unseen = warp_to_frame(seen, ts[i], shape, 1.0, cv2.INTER_NEAREST) == 0
            guessed = np.zeros(shape[:2], bool)
            hole = mask_box(unseen)
            if hole is not None:  # background nobody saw: estimate it from the frame itself
                # `estimate_background`, resized only under the unseen pixels' box (the same values).
                stand_in = upsample_box(_small_background(frame, character_masks[i]), shape[:2], hole)
                at = np.s_[hole[0] : hole[1], hole[2] : hole[3]]
                np.copyto(ref[at], stand_in, where=unseen[at][..., None])
                guessed[at] = unseen[at]
                if band is not None and band_seen is not None:
                    # Two frames that show the band beat the frame's own estimate (a wide median that
                    # erases thin bright background); of two, the median is the brighter: a reference
                    # that errs bright misses light rather than inventing it.
                    shown = unseen[at] & (warp_to_frame(band_seen, ts[i], shape, 1.0, cv2.INTER_NEAREST)[at] >= 2)
                    np.copyto(ref[at], np.asarray(warp_to_frame(band, ts[i], shape, 1.0), np.uint8)[at],
                              where=shown[..., None])
                    guessed[at] &= ~shown
            return ref, guessed

        guesses: list[Mask | None] = [None] * len(frames)

        def effect_map(i: int, unlit: Sequence[int] = ()) -> EffectLight:
            frame = np.asarray(frames[i])
            read = reference(i)
            ref, guessed = read if read is not None else (None, None)
            mask = np.asarray(character_masks[i], bool)
            # The drawing is a reference over the characters only: warped where they are.
            box = character_box(mask) if len(frames) >= 3 else None
            near = motion_neighbours(frames, i, box=box, greys=greys) if box is not None else []
            drawing = middle(near) if near else None
            if unlit and box is not None and drawing is not None:
                # A second look at a lit frame: over the characters, the frames without light.
                drawing, near = far_reference(frames, i, unlit, box, drawing, near, greys, self.far, self.far_tol)
            guesses[i] = guessed
            light = self.separate_light(frame, mask, ref, drawing, alone=False, neighbours=near, box=box)
            if text is not None and np.any(text[i]):
                # Burnt-in text lies over everything, light included, and a caption that comes and
                # goes is brighter than the plate under it: its glyphs and their soft edge are no light.
                r = self.fringe + 1
                on = dilate_boxed(np.asarray(text[i], np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0
                light.strength[on] = 0.0
                clear_unlit(light.colour, light.strength)
            return light

        # Frames are independent once the plate is built; OpenCV and numpy release the GIL.
        with ThreadPoolExecutor(max(1, min(os.cpu_count() or 1, len(frames)))) as pool:
            lights = list(pool.map(effect_map, range(len(frames))))
            if self.far <= 0 or len(frames) < 3:
                lights = self._through_time(frames, character_masks, ts, lights, strays)
            else:
                raw = [EffectLight(light.strength.copy(), light.colour.copy()) for light in lights]
                self._through_time(frames, character_masks, ts, lights, strays)
                lit, unlit = self._lit_and_unlit(frames, character_masks, lights, strays)
                if lit and unlit:
                    # Lasting light over a character: the lit frames again, against the frames without light.
                    for i, light in zip(lit, pool.map(lambda i: effect_map(i, unlit), lit), strict=True):
                        raw[i] = light
                    lights = self._through_time(frames, character_masks, ts, raw, strays, unlit)
        if self.guess_fringe > 0:
            self._guesses_are_no_light(character_masks, lights, guesses)
        if self.tail_fill > 0 and plate is not None:
            self._tails_in_masks(frames, character_masks, lights, strays, reference)
        if self.highlight_tol > 0:
            self._drawn_fills_are_no_light(frames, character_masks, lights)
        return lights

    def _drawn_fills_are_no_light(self, frames: Sequence[Image], masks: Sequence[Mask],
                                  lights: list[EffectLight]) -> None:
        """No light over a character where it is the character's own fill, redrawn (`drawn_fills`), in
        place. Last: light the tails grew from such a group goes with it."""
        for image, mask, light in zip(frames, masks, lights, strict=True):
            if not np.any(mask) or not np.any(light.strength >= 0.25):
                continue
            gone = drawn_fills(np.asarray(image), light.strength, np.asarray(mask, bool), tol=self.highlight_tol)
            if gone.any():
                light.strength[gone] = 0.0
                clear_unlit(light.colour, light.strength)

    def _tails_in_masks(self, frames: Sequence[Image], masks: Sequence[Mask], lights: list[EffectLight],
                        strays: set[int], reference: Callable[[int], tuple[Image, Mask] | None]) -> None:
        """`effect_tails.light_tails_in_mask` on the shot's plain frames (no strays, no flashes), in place:
        the glow the masks took in, read against the plate (``reference``), with the shot's character
        fills counted in all of them."""
        use = self._plain_frames(frames, strays)
        palette = shot_palette([frames[i] for i in use], [masks[i] for i in use])
        if palette is None:
            return
        for i in use:
            if not np.any(masks[i]) or not np.any(lights[i].strength >= 0.25):
                continue
            read = reference(i)
            if read is None:
                continue
            plate = read[0]
            image = np.asarray(frames[i], np.uint8)
            light_tails_in_mask(image, plate, np.asarray(masks[i], bool), lights[i], _lookup(BRIGHT, _cmax(image)),
                                not_darker(image, plate), palette, self.tail_fill)

    def _guesses_are_no_light(self, masks: Sequence[Mask], lights: list[EffectLight],
                              guesses: Sequence[Mask | None]) -> None:
        """No light within ``guess_fringe`` px outside a character's mask where the background under it
        is the frame's own guess (no frame saw it), in place. That guess is a wide median of the frame,
        which next to a character holds the character's own outline, so a fill the mask left out is
        brighter than it (onepiece_demo.mp4, no effects: 59,000 of 102,000 false px lie within 8 px of
        a mask on such a guess). After the filters through time: light over the character that this
        light made large enough to keep stays."""
        g = self.guess_fringe
        disk = np.ones((2 * g + 1, 2 * g + 1), np.uint8)
        for mask, light, guessed in zip(masks, lights, guesses, strict=True):
            m = np.asarray(mask, bool)
            if guessed is None or not m.any() or not np.any(light.strength):
                continue
            near = (dilate_boxed(m.astype(np.uint8), disk) > 0) & ~m & guessed
            light.strength[near] = 0.0
            clear_unlit(light.colour, light.strength)

    @staticmethod
    def _plain_frames(frames: Sequence[Image], strays: set[int]) -> list[int]:
        """The shot's frames that are neither strays (impact frames) nor flashes."""
        return [i for i in range(len(frames)) if i not in strays and flash_strength(np.asarray(frames[i])) == 0.0]

    def _through_time(self, frames: Sequence[Image], masks: Sequence[Mask], ts: Sequence[Matrix],
                      lights: list[EffectLight], strays: set[int], unlit: Sequence[int] = ()) -> list[EffectLight]:
        """The shot's filters over the frames' lights, in place: `suppress_persistent`, `_keep_lasting`,
        `_fills_are_no_light`, `_specks_are_no_light`."""
        maps = suppress_persistent([light.strength for light in lights], ts)
        self._keep_lasting(lights, maps)
        if self.fill_share > 0 and len(frames) >= 3:
            self._fills_are_no_light(frames, masks, lights, strays, unlit)
        if self.least > 0:
            self._specks_are_no_light(lights)
        return lights

    def _lit_and_unlit(self, frames: Sequence[Image], masks: Sequence[Mask], lights: Sequence[EffectLight],
                       strays: set[int]) -> tuple[list[int], list[int]]:
        """After a shot's first pass: the frames with light and characters (worth a second look over
        them), and the frames with no light at all (strays and flashes are neither)."""
        lit: list[int] = []
        unlit: list[int] = []
        for i, light in enumerate(lights):
            if i in strays or flash_strength(np.asarray(frames[i])) > 0.0:
                continue
            if np.count_nonzero(light.strength >= 0.25) == 0:
                unlit.append(i)
            elif np.any(masks[i]):
                lit.append(i)
        return lit, unlit

    def _keep_lasting(self, lights: list[EffectLight], maps: Sequence[SoftMap]) -> None:
        """`keep_lasting_groups` over ``maps``, the lights' strengths set to what it keeps."""
        shape = maps[0].shape
        kept = keep_lasting_groups(maps, self.min_area * maps[0].size, self._reach(shape),
                                   streak=self.streak * min(shape[:2]))
        for light, m in zip(lights, kept, strict=True):
            light.strength = m
            clear_unlit(light.colour, m)

    def _specks_are_no_light(self, lights: list[EffectLight]) -> None:
        """A frame whose light at 0.25, all of it together, covers less than ``least`` of the frame
        holds none: what is left there is the drawing's edge misread by the flow or the mask, or an
        effect's last glimmer as it fades (of no use as a layer either way)."""
        for light in lights:
            s = light.strength
            if np.count_nonzero(s >= 0.25) < self.least * s.size:
                s[...] = 0.0
                clear_unlit(light.colour, s)

    def _fills_are_no_light(self, frames: Sequence[Image], masks: Sequence[Mask], lights: list[EffectLight],
                            strays: set[int], unlit: Sequence[int] = ()) -> None:
        """No light over a character where the pixel's colour is one of the shot's frequent fills
        (`effect_palette`; flashes and stray frames are not counted): a redrawn mouth, a turned head
        measured against other drawings. Lasting light recurs too, but spread over many colours by its
        changing strength, unless it holds still: ``unlit`` (the frames without light) are where the
        fills are counted when there are ``fill_unlit`` of them. Clipped pixels (a channel >= 250) are
        left alone: light over white leaves a white fill."""
        use = self._plain_frames(frames, strays)
        counted = list(unlit) if self.fill_unlit > 0 and len(unlit) >= self.fill_unlit else use
        palette = shot_palette([frames[i] for i in counted], [masks[i] for i in counted])
        if palette is None:
            return
        for i in use:
            light = lights[i]
            image = np.asarray(frames[i], np.uint8)
            ys, xs = np.nonzero(inner(masks[i]) & (light.strength > 0) & (_cmax(image) < 250))
            if len(ys):
                fill = palette.share(image[ys, xs]) >= self.fill_share
                light.strength[ys[fill], xs[fill]] = 0.0
                clear_unlit(light.colour, light.strength)

    @staticmethod
    def _reach(shape: tuple[int, ...]) -> int:
        """How close detections must lie to count as one group (one burst of sparks)."""
        return max(2, round(0.02 * min(shape[:2])))

    def _drop_specks(self, s: SoftMap) -> SoftMap:
        """Drop isolated small detections; small ones close together (a burst of sparks, a bundle of
        streaks) count as one group."""
        on = (s > 0.25).astype(np.uint8)
        if not on.any():
            return s
        r = self._reach(s.shape)
        grouped = cv2.dilate(on, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
        n, lab = cv2.connectedComponents(grouped, connectivity=8)
        if n <= 1:
            return s
        area = np.bincount(lab[on > 0], minlength=n)
        small = area < self.min_area * s.size
        small[0] = False
        if small.any():
            # Everything within reach of a dropped group goes too (its faint halo).
            gone = cv2.dilate((small[lab] & (grouped > 0)).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
            s = np.where(gone, 0.0, s).astype(np.float32)
        return s
