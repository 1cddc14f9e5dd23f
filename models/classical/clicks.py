"""Interactive correction, weight-free: GrabCut seeded by the object's current mask and the clicks.

The prior mask is refined, never replaced: inside it pixels start as probable foreground, outside as
probable background; clicks become sure foreground/background discs and a box makes everything
outside it sure background. Only a crop around prior, clicks and box is solved, at a reduced size
(long side about 512 px); the result is upsampled with a guided filter so edges follow the image.
Per image, the reduced image and the learnt colour models are cached to warm-start the next click.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, ClassVar

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Mask, Prompt, Role
from models.classical.matting import guided_filter


@dataclass
class _Cached:
    shape: tuple[int, ...]
    bgd: NDArray[np.float64]
    fgd: NDArray[np.float64]


def _bbox(mask: NDArray[np.bool_]) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _flood_claim(small: NDArray[Any], gc: NDArray[np.uint8], prior: NDArray[np.bool_],
                 at: tuple[int, int], positive: bool) -> None:
    """Hand the click's colour-similar connected region to the side the click asks for.

    Without this, GrabCut's colour models learnt from the prior keep an extra region the prior
    wrongly holds (or keep missing a region it lacks). The fill stays on the prior's wrong side:
    a negative click only claims prior pixels, a positive one only pixels outside the prior.
    """
    h, w = prior.shape
    x, y = min(w - 1, max(0, at[0])), min(h - 1, max(0, at[1]))
    if prior[y, x] != (not positive):
        return
    block = np.ones((h + 2, w + 2), np.uint8)
    block[1:-1, 1:-1] = (prior != positive).astype(np.uint8) ^ 1  # 0 where filling is allowed
    flags = 4 | cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | (2 << 8)
    cv2.floodFill(small, block, (x, y), (0, 0, 0), (18, 18, 18), (18, 18, 18), flags)
    region = block[1:-1, 1:-1] == 2
    side = prior if not positive else ~prior
    if region.sum() > 0.6 * max(1, int(side.sum())) and positive:
        return  # a fill spilling over most of the background is no evidence of anything
    gc[region] = cv2.GC_PR_FGD if positive else cv2.GC_PR_BGD


class GrabCutClicker:
    """Weight-free click segmenter: GrabCut refinement of the prior mask in a reduced crop.

    Parameters
    ----------
    work_size:
        Long side, in pixels, of the crop GrabCut runs on.
    max_pixels:
        Upper bound on the pixels of that crop (GrabCut's cost grows with it).
    iterations:
        GrabCut iterations per click.
    band:
        Half-width of the band around the prior's edge that may change, as a fraction of the crop.
    cache_size:
        Number of images whose colour models are kept.
    """

    name: ClassVar[str] = "classical"
    role: ClassVar[Role] = "clicker"

    def __init__(self, *, work_size: int = 512, max_pixels: int = 120_000, iterations: int = 1,
                 band: float = 0.06, cache_size: int = 8) -> None:
        self.band = band
        self.work_size = work_size
        self.max_pixels = max_pixels
        self.iterations = iterations
        self.cache_size = cache_size
        self._cache: OrderedDict[str, _Cached] = OrderedDict()

    def load(self, device: str = "cpu") -> None:
        """Nothing to load."""

    def release(self) -> None:
        """Forget cached colour models."""
        self._cache.clear()

    def _crop(self, shape: tuple[int, ...], prior: NDArray[np.bool_], prompt: Prompt) -> tuple[int, int, int, int]:
        """Region to solve: prior, clicks and box, with a margin; inside the box when there is one."""
        h, w = shape[:2]
        xs: list[float] = []
        ys: list[float] = []
        bb = _bbox(prior)
        if bb is not None:
            xs += [bb[0], bb[2]]
            ys += [bb[1], bb[3]]
        for x, y, _ in prompt.points:
            xs.append(x)
            ys.append(y)
        if prompt.box is not None:
            xs += [prompt.box[0], prompt.box[2]]
            ys += [prompt.box[1], prompt.box[3]]
        if not xs:
            return 0, 0, w, h
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        # A lone click says little about extent: look at a window a third of the image around it.
        span = max(x1 - x0, y1 - y0, 0.35 * max(h, w) if bb is None and prompt.box is None else 0.0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        half_w = max(x1 - x0, span if bb is None else 0.0) / 2
        half_h = max(y1 - y0, span if bb is None else 0.0) / 2
        m = 0.15 * max(half_w, half_h) * 2 + 16
        if prompt.box is not None:
            m = 8
        return (max(0, int(cx - half_w - m)), max(0, int(cy - half_h - m)),
                min(w, int(np.ceil(cx + half_w + m))), min(h, int(np.ceil(cy + half_h + m))))

    def predict(self, image_id: str, image: Image, prompt: Prompt, prior: Mask | None) -> Mask:
        """Return the refined object mask for ``image`` (full size, ``bool``)."""
        h, w = image.shape[:2]
        prior_b = np.zeros((h, w), bool) if prior is None else prior.astype(bool, copy=False)
        if not prompt.points and prompt.box is None:
            return prior_b.copy()
        x0, y0, x1, y1 = self._crop(image.shape, prior_b, prompt)
        crop = np.ascontiguousarray(image[y0:y1, x0:x1])
        ch, cw = crop.shape[:2]
        # Long side at most work_size, and a pixel budget so wide crops cost no more than tall ones.
        s = min(1.0, self.work_size / max(ch, cw), float(np.sqrt(self.max_pixels / (ch * cw))))
        size = (max(1, round(cw * s)), max(1, round(ch * s)))
        small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA) if s < 1 else crop
        sp = cv2.resize(prior_b[y0:y1, x0:x1].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
        gc = np.where(sp, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
        rad = max(3, round(0.012 * max(size)))
        if sp.any():
            # Refine, don't redo: far from the prior's edge and from the clicks nothing may change.
            # It also keeps the min-cut small, which is most of the time spent.
            b = max(4, round(self.band * max(size)))
            k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * b + 1, 2 * b + 1))
            fixed = np.zeros(gc.shape, np.uint8)
            fixed[cv2.erode(sp.astype(np.uint8), k) > 0] = cv2.GC_FGD
            fixed[cv2.dilate(sp.astype(np.uint8), k) == 0] = cv2.GC_BGD + 4
            for x, y, _ in prompt.points:
                cv2.circle(fixed, (round((x - x0) * s), round((y - y0) * s)), 8 * rad, 0, -1)
            gc[fixed == cv2.GC_FGD] = cv2.GC_FGD
            gc[fixed == cv2.GC_BGD + 4] = cv2.GC_BGD
        if prompt.box is not None:
            bx0, by0, bx1, by1 = ((prompt.box[0] - x0) * s, (prompt.box[1] - y0) * s,
                                  (prompt.box[2] - x0) * s, (prompt.box[3] - y0) * s)
            inside = np.zeros(gc.shape, bool)
            inside[max(0, int(by0)):int(np.ceil(by1)), max(0, int(bx0)):int(np.ceil(bx1))] = True
            if not sp.any():
                gc[inside] = cv2.GC_PR_FGD
            gc[~inside] = cv2.GC_BGD
        elif not sp.any():
            # Nothing to refine: a probable-foreground blob around each positive click.
            for x, y, pos in prompt.points:
                if pos:
                    cv2.circle(gc, (round((x - x0) * s), round((y - y0) * s)), 6 * rad, cv2.GC_PR_FGD, -1)
        if sp.any():
            for x, y, pos in prompt.points:
                _flood_claim(small, gc, sp, (round((x - x0) * s), round((y - y0) * s)), pos)
        for x, y, pos in prompt.points:
            cv2.circle(gc, (round((x - x0) * s), round((y - y0) * s)), rad, cv2.GC_FGD if pos else cv2.GC_BGD, -1)
        # From nothing GrabCut has more to settle than when refining a prior.
        iters = self.iterations if sp.any() else self.iterations + 2
        small_mask = self._grabcut(image_id, image.shape, small, gc, iters)
        small_mask = self._keep_supported(small_mask, sp, prompt, (x0, y0), s)
        out = prior_b.copy()
        if prompt.box is not None:
            # The box says where the object is: nothing of it lies outside.
            bx = np.zeros((h, w), bool)
            bx[max(0, int(prompt.box[1])):int(np.ceil(prompt.box[3])), max(0, int(prompt.box[0])):int(np.ceil(prompt.box[2]))] = True
            out &= bx
        out[y0:y1, x0:x1] = self._upsample(crop, small_mask, s)
        for x, y, pos in prompt.points:  # clicks are always honoured at the clicked pixel
            xi, yi = min(w - 1, max(0, int(x))), min(h - 1, max(0, int(y)))
            out[yi, xi] = pos
        return out

    def _grabcut(self, image_id: str, shape: tuple[int, ...], small: NDArray[Any],
                 gc: NDArray[np.uint8], iterations: int) -> NDArray[np.bool_]:
        fg_any = np.isin(gc, (cv2.GC_FGD, cv2.GC_PR_FGD)).any()
        bg_any = np.isin(gc, (cv2.GC_BGD, cv2.GC_PR_BGD)).any()
        if not (fg_any and bg_any):
            return np.isin(gc, (cv2.GC_FGD, cv2.GC_PR_FGD))  # type: ignore[no-any-return]
        cached = self._cache.get(image_id)
        try:
            if cached is not None and cached.shape == shape:
                # Warm start: the last click's colour models need one round less to settle.
                bgd, fgd = cached.bgd.copy(), cached.fgd.copy()
                iterations = max(1, iterations - 1)
            else:
                # GrabCut's own initialisation runs k-means on every pixel (most of its cost);
                # learning the colour models on a thumbnail is as good a start and ten times faster.
                t = 128 / max(small.shape[:2])
                tsize = (max(2, round(small.shape[1] * t)), max(2, round(small.shape[0] * t)))
                tiny = cv2.resize(small, tsize, interpolation=cv2.INTER_AREA)
                tgc = cv2.resize(gc, tsize, interpolation=cv2.INTER_NEAREST)
                bgd = np.zeros((1, 65), np.float64)
                fgd = np.zeros((1, 65), np.float64)
                cv2.grabCut(tiny, tgc, None, bgd, fgd, 0, cv2.GC_INIT_WITH_MASK)  # type: ignore[call-overload]
            cv2.grabCut(small, gc, None, bgd, fgd, iterations, cv2.GC_EVAL)  # type: ignore[call-overload]
        except cv2.error:
            # GrabCut refuses degenerate seeds (e.g. too few pixels of one kind); keep the seeds.
            return np.isin(gc, (cv2.GC_FGD, cv2.GC_PR_FGD))  # type: ignore[no-any-return]
        self._cache[image_id] = _Cached(shape, bgd, fgd)
        self._cache.move_to_end(image_id)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return np.isin(gc, (cv2.GC_FGD, cv2.GC_PR_FGD))  # type: ignore[no-any-return]

    @staticmethod
    def _keep_supported(mask: NDArray[np.bool_], prior: NDArray[np.bool_], prompt: Prompt,
                        origin: tuple[int, int], s: float) -> NDArray[np.bool_]:
        """Drop foreground islands touched by neither a positive click nor the prior's bulk."""
        n, comp = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
        if n <= 2:
            return mask
        keep = np.zeros(n, bool)
        for x, y, pos in prompt.points:
            xi = min(mask.shape[1] - 1, max(0, round((x - origin[0]) * s)))
            yi = min(mask.shape[0] - 1, max(0, round((y - origin[1]) * s)))
            if pos:
                keep[comp[yi, xi]] = True
        area = np.bincount(comp.ravel(), minlength=n)
        overlap = np.bincount(comp[prior], minlength=n)
        keep |= overlap > 0.5 * area
        if not prior.any() and not keep[1:].any():
            keep[1:] = True  # a box alone: keep what GrabCut found
        keep[0] = False
        return keep[comp]  # type: ignore[no-any-return]

    @staticmethod
    def _upsample(crop: Image, small_mask: NDArray[np.bool_], s: float) -> NDArray[np.bool_]:
        """Back to crop size; a guided filter on the full-resolution crop puts edges on image edges."""
        ch, cw = crop.shape[:2]
        soft: NDArray[Any] = small_mask.astype(np.float32)
        if s >= 1:
            return small_mask
        soft = cv2.resize(soft, (cw, ch), interpolation=cv2.INTER_LINEAR)
        grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        r = max(2, round(1.5 / s))
        return guided_filter(grey, soft, r, 1e-3) > 0.5  # type: ignore[no-any-return]
