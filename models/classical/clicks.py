"""Interactive correction, weight-free: each click claims the colour-coherent region it lands in.

The image is cut once (per ``image_id``, cached) into edge-snapped superpixels: a watershed of the Lab
image from one seed per grid cell (at its flattest pixel), so borders sit on image edges and anime
outlines. Adjacent superpixels are joined by an edge whose cost grows with their colour difference and
the gradient along their shared border. A click claims the superpixels within a geodesic reach of it
(path cost below 1, the nearest click winning): a flat anime region is claimed whole, its outline
stops the spread. A graph cut over superpixels then settles the labels: claimed regions (hard near the
click), the prior (weakly), colour histograms of the current object and background, and an
edge-aware smoothness. Superpixels whose label did not change keep the prior pixel for pixel, so the
prior is refined, never redone; changed ones are moved onto full-size edges by a guided filter. Thin
dark outlines bordering what a click added join it; leftovers of a prior part that lost most of
itself without a positive click are removed. The pixels under every click always follow the click.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, ClassVar

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.sparse.csgraph import dijkstra

from models.base import Image, Mask, Prompt, Role
from models.classical.filters import guided_filter, line_art
from models.classical.superpixels import Regions, build_regions, min_cut


class RegionClicker:
    """Weight-free click segmenter: each click claims its geodesic colour region; the prior is kept.

    A box is handled GrabCut-style (colour models inside it, everything outside is background) by
    the same superpixel graph cut.

    Parameters
    ----------
    work_size:
        Long side, in pixels, at which superpixels and regions are computed.
    cell:
        Superpixel grid step at work size, in pixels.
    contrast:
        Lab colour difference between neighbouring superpixels that stops a click's region.
    step:
        Cost of each superpixel step; bounds the reach in perfectly flat regions.
    hard_reach:
        Geodesic distance below which a click's region is a hard constraint.
    colour, prior, claim, smooth:
        Graph-cut weights: colour log-likelihood ratio per pixel, prior and claim per pixel, and
        smoothness per pixel of shared border.
    rounds:
        Colour-model re-estimations (more helps flat anime, hurts textured video).
    cache_size:
        Number of images whose superpixel graphs are kept.
    """

    name: ClassVar[str] = "classical"
    role: ClassVar[Role] = "clicker"

    def __init__(self, *, work_size: int = 640, cell: int = 6, contrast: float = 25.0,
                 step: float = 0.01, hard_reach: float = 0.3, colour: float = 1.0, prior: float = 1.0,
                 claim: float = 4.0, smooth: float = 16.0, rounds: int = 1, cache_size: int = 8) -> None:
        self.hard_reach = hard_reach
        self.colour = colour
        self.prior = prior
        self.claim = claim
        self.smooth = smooth
        self.rounds = rounds
        self.work_size = work_size
        self.cell = cell
        self.contrast = contrast
        self.step = step
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Regions] = OrderedDict()

    def load(self, device: str = "cpu") -> None:
        """Nothing to load."""

    def release(self) -> None:
        """Forget cached superpixel graphs."""
        self._cache.clear()

    def _regions(self, image_id: str, image: Image) -> Regions:
        cached = self._cache.get(image_id)
        if cached is None or cached.shape != image.shape:
            cached = build_regions(image, self.work_size, self.cell, self.contrast, self.step)
            self._cache[image_id] = cached
        self._cache.move_to_end(image_id)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return cached

    def predict(self, image_id: str, image: Image, prompt: Prompt, prior: Mask | None) -> Mask:
        """Return the refined object mask for ``image`` (full size, ``bool``)."""
        h, w = image.shape[:2]
        prior_b = np.zeros((h, w), bool) if prior is None else prior.astype(bool, copy=False)
        if not prompt.points and prompt.box is None:
            return prior_b.copy()
        reg = self._regions(image_id, image)
        sh, sw = reg.labels.shape
        n = reg.area.shape[0]
        pts = [(min(w - 1, max(0, int(x))), min(h - 1, max(0, int(y))), pos) for x, y, pos in prompt.points]
        seeds = np.array([reg.labels[min(sh - 1, int(y * reg.scale)), min(sw - 1, int(x * reg.scale))]
                          for x, y, _ in pts], np.int64)
        sign = np.array([p for _, _, p in pts], bool)
        if len(pts):
            dist = np.atleast_2d(dijkstra(reg.graph, directed=False, indices=seeds))
            best, claim_val = dist.min(axis=0), sign[dist.argmin(axis=0)]
        else:
            best, claim_val = np.full(n, np.inf), np.zeros(n, bool)
        prior_small = cv2.resize(prior_b.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
        prior_frac = np.bincount(reg.labels.ravel(), prior_small.ravel(), n) / reg.area
        inside: NDArray[np.bool_] | None = None
        weight, rounds = self.prior, self.rounds
        if prompt.box is not None:
            bx = np.zeros((sh, sw), np.float32)
            b0, b1 = [int(v * reg.scale) for v in prompt.box[:2]], [int(np.ceil(v * reg.scale)) for v in prompt.box[2:]]
            bx[max(0, b0[1]):b1[1], max(0, b0[0]):b1[0]] = 1
            inside = np.bincount(reg.labels.ravel(), bx.ravel(), n) / reg.area > 0.5
            if not prior_b.any():
                # A box alone, as in GrabCut: everything in it starts as the object, the colour
                # models then settle what is background; no prior to respect.
                prior_frac, weight, rounds = inside.astype(np.float64), 0.0, rounds + 2
        label = self._cut(reg, prior_frac, best, claim_val, seeds, sign, inside, weight, rounds)
        changed = label != (prior_frac > 0.5)
        if prompt.box is not None and not prior_b.any():
            changed[:] = True
        owned_small = changed[reg.labels]
        value_small = label[reg.labels] & owned_small
        out = self._merge(image, prior_b, owned_small, value_small)
        out = self._tidy(image, prior_b, out, pts)
        if prompt.box is not None:
            out = self._apply_box(out, prompt.box)
        for x, y, pos in pts:  # clicks are always honoured at the clicked pixel
            out[y, x] = pos
        return out

    def _cut(self, reg: Regions, prior_frac: NDArray[np.float64], best: NDArray[np.float64],
             claim_val: NDArray[np.bool_], seeds: NDArray[Any], sign: NDArray[np.bool_],
             inside: NDArray[np.bool_] | None, weight: float, rounds: int) -> NDArray[np.bool_]:
        """Graph cut over superpixels: colour models, prior, click regions, edge-aware smoothness."""
        n = reg.area.shape[0]
        claimed = best < 1.0
        hard = best < self.hard_reach
        # Click regions count as near-certain; elsewhere the prior, weakly (it may be wrong).
        strength = np.clip(1.0 - best, 0.0, 1.0)
        label = np.where(claimed, claim_val, prior_frac > 0.5)
        label[seeds] = sign
        pix = reg.labels.ravel()
        if inside is not None:
            label &= inside
        for _ in range(rounds):
            if label.all() or not label.any():
                break
            fgp = label[pix]
            hf = np.bincount(reg.bins[fgp], minlength=4096) + 1.0
            hb = np.bincount(reg.bins[~fgp], minlength=4096) + 1.0
            lr = np.log(hf / hf.sum()) - np.log(hb / hb.sum())
            colour = np.bincount(pix, np.clip(lr, -4, 4)[reg.bins], n)
            t = (self.colour * colour + weight * reg.area * (2 * prior_frac - 1)
                 + self.claim * reg.area * strength * np.where(claim_val, 1.0, -1.0))
            t[hard] = np.where(claim_val[hard], 1e7, -1e7)
            if inside is not None:
                t[~inside] = -1e7  # nothing of the object lies outside its box
            t[seeds] = np.where(sign, 1e7, -1e7)
            label = min_cut(n, t, reg.pairs, self.smooth * reg.smooth)
        return label

    @staticmethod
    def _tidy(image: Image, prior: NDArray[np.bool_], out: NDArray[np.bool_],
              pts: list[tuple[int, int, bool]]) -> NDArray[np.bool_]:
        """Anime outlines go with what was added; remnants of what was removed go too."""
        added = out & ~prior
        if added.any():
            # A thin dark stroke bordering an added region is its outline (anime line art).
            k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
            near = cv2.dilate(added.astype(np.uint8), k) > 0
            out = out | (line_art(image, 2, contrast=40.0, darkest=110) & near & ~out)
        if (prior & ~out).any():
            # A prior component that lost most of itself and holds no positive click is an extra
            # region being removed: its leftovers (outline, slivers between superpixels) go too.
            n, comp = cv2.connectedComponents(prior.astype(np.uint8), connectivity=8)
            was = np.bincount(comp.ravel(), minlength=n)
            kept = np.bincount(comp[out], minlength=n)
            drop = kept < 0.5 * was
            for x, y, pos in pts:
                if pos:
                    drop[comp[y, x]] = False
            drop[0] = False
            out = out & ~drop[comp]
        return out

    @staticmethod
    def _merge(image: Image, prior: NDArray[np.bool_], owned: NDArray[np.bool_],
               value: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """Claimed regions take their click's side at full size; the rest keeps the prior."""
        h, w = prior.shape
        ys, xs = np.nonzero(owned)
        if len(ys) == 0:
            return prior
        sh, sw = owned.shape
        fy, fx = h / sh, w / sw
        m = 2
        y0, y1 = max(0, int((ys.min() - m) * fy)), min(h, int((ys.max() + 1 + m) * fy))
        x0, x1 = max(0, int((xs.min() - m) * fx)), min(w, int((xs.max() + 1 + m) * fx))
        size = (x1 - x0, y1 - y0)
        sy0, sy1 = int(y0 / fy), min(sh, int(np.ceil(y1 / fy)))
        sx0, sx1 = int(x0 / fx), min(sw, int(np.ceil(x1 / fx)))
        # Soft map over the crop: the click's side where claimed, the prior elsewhere.
        own_c = cv2.resize(owned[sy0:sy1, sx0:sx1].astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
        val_c = cv2.resize(value[sy0:sy1, sx0:sx1].astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
        pri_c = prior[y0:y1, x0:x1].astype(np.float32)
        soft = np.where(own_c > 0.5, val_c / np.maximum(own_c, 1e-3), pri_c)
        soft = np.clip(soft, 0, 1).astype(np.float32)
        if fy > 1.01 or fx > 1.01:
            grey = cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
            r = max(2, round(1.5 * max(fx, fy)))
            soft = guided_filter(grey.astype(np.float32) / 255.0, soft, r, 1e-3)
        out = prior.copy()
        region = own_c > 0.01
        out[y0:y1, x0:x1][region] = soft[region] > 0.5
        return out

    @staticmethod
    def _apply_box(mask: NDArray[np.bool_], box: tuple[float, float, float, float]) -> NDArray[np.bool_]:
        """Nothing of the object lies outside the box."""
        h, w = mask.shape
        inside = np.zeros((h, w), bool)
        inside[max(0, int(box[1])):int(np.ceil(box[3])), max(0, int(box[0])):int(np.ceil(box[2]))] = True
        return mask & inside
