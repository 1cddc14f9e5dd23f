"""The superpixel graph the weight-free clicker works on, and a binary graph cut over it.

`build_regions` cuts an image into edge-snapped superpixels (a watershed of the Lab image from one
seed per grid cell, at its flattest pixel) and joins adjacent ones by an edge whose cost grows with
their colour difference and the gradient along their shared border; `min_cut` labels the nodes of
such a graph foreground/background by max-flow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import breadth_first_order, maximum_flow

from models.base import Image


@dataclass
class Regions:
    """The cached superpixel graph of one image."""

    shape: tuple[int, ...]
    scale: float  # work size / full size
    labels: NDArray[np.int32]  # (h, w) superpixel id at work size
    lab: NDArray[np.float32]  # (n, 3) mean Lab colour per superpixel
    graph: csr_matrix  # symmetric, edge cost between adjacent superpixels
    area: NDArray[np.float64]  # (n,) pixels per superpixel at work size
    bins: NDArray[np.int64]  # (h*w,) colour-histogram bin of each work-size pixel
    pairs: NDArray[np.int32]  # (m, 2) adjacent superpixels
    smooth: NDArray[np.float64]  # (m,) border length x similarity, the graph cut's pairwise weight


def _fill_unlabelled(markers: NDArray[np.int32]) -> NDArray[np.int32]:
    """Give the watershed's border pixels (-1) the id of a labelled neighbour."""
    k = np.ones((3, 3), np.uint8)
    lab = markers.astype(np.float32)  # ids stay exact in float32 below 2**24
    for _ in range(4):
        bad = lab < 1
        if not bad.any():
            break
        grown = cv2.dilate(lab, k)
        lab[bad] = grown[bad]
    lab[lab < 1] = 1
    return lab.astype(np.int32) - 1


def build_regions(image: Image, work_size: int, cell: int, contrast: float,
                  step: float) -> Regions:
    """Superpixels and their adjacency graph for ``image`` (``uint8`` RGB).

    ``contrast`` is the Lab colour difference that costs a full reach in one step; ``step`` is the
    cost of any step, so even a perfectly flat region has a finite (large) reach.
    """
    h, w = image.shape[:2]
    s = min(1.0, work_size / max(h, w))
    size = (max(1, round(w * s)), max(1, round(h * s)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if s < 1 else image
    small = cv2.GaussianBlur(small, (3, 3), 0)
    lab: NDArray[Any] = cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    gx = cv2.Sobel(lab, cv2.CV_32F, 1, 0, ksize=3) / 4.0
    gy = cv2.Sobel(lab, cv2.CV_32F, 0, 1, ksize=3) / 4.0
    grad = np.sqrt((gx * gx + gy * gy).sum(axis=2))
    # One seed per grid cell at its flattest pixel, so seeds never sit on an edge.
    sh, sw = size[1], size[0]
    ny, nx = max(1, sh // cell), max(1, sw // cell)
    blocks = grad[: ny * cell, : nx * cell].reshape(ny, cell, nx, cell).transpose(0, 2, 1, 3)
    arg = blocks.reshape(ny, nx, cell * cell).argmin(axis=2)
    yy = (np.arange(ny)[:, None] * cell + arg // cell).ravel()
    xx = (np.arange(nx)[None, :] * cell + arg % cell).ravel()
    markers = np.zeros((sh, sw), np.int32)
    markers[yy, xx] = np.arange(1, len(yy) + 1, dtype=np.int32)
    cv2.watershed(np.ascontiguousarray(small[..., ::-1]), markers)
    labels = _fill_unlabelled(markers)
    n = int(labels.max()) + 1
    cnt = np.maximum(np.bincount(labels.ravel(), minlength=n), 1).astype(np.float32)
    flat = lab.reshape(-1, 3)
    mean = np.stack([np.bincount(labels.ravel(), flat[:, c], minlength=n) / cnt for c in range(3)], 1)
    # Adjacent pairs (4-neighbourhood) and the gradient along their shared border.
    a = np.concatenate([labels[:, :-1].ravel(), labels[:-1, :].ravel()])
    b = np.concatenate([labels[:, 1:].ravel(), labels[1:, :].ravel()])
    g = np.concatenate([np.maximum(grad[:, :-1], grad[:, 1:]).ravel(),
                        np.maximum(grad[:-1, :], grad[1:, :]).ravel()])
    keep = a != b
    a, b, g = a[keep], b[keep], g[keep]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    key, inv = np.unique(lo.astype(np.int64) * n + hi, return_inverse=True)
    border = np.bincount(inv, g) / np.bincount(inv)
    i, j = (key // n).astype(np.int32), (key % n).astype(np.int32)
    diff = np.linalg.norm(mean[i] - mean[j], axis=1)
    # Squared, so small differences (texture, shading, JPEG noise) cost little and edges a lot.
    cost = np.square(np.maximum(diff, 0.5 * border) / contrast) + step
    graph = coo_matrix((np.concatenate([cost, cost]), (np.concatenate([i, j]), np.concatenate([j, i]))),
                       shape=(n, n)).tocsr()
    length = np.bincount(inv).astype(np.float64)
    q = (small // 16).astype(np.int64)  # 16 levels per channel: 4096-bin colour histograms
    bins = (q[..., 0] * 256 + q[..., 1] * 16 + q[..., 2]).ravel()
    smooth = length * np.exp(-(cost - step))
    return Regions(image.shape, s, labels, mean.astype(np.float32), graph, cnt.astype(np.float64), bins,
                    np.stack([i, j], 1), smooth)


def min_cut(n: int, t: NDArray[np.float64], pairs: NDArray[np.int32],
             w: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Binary labelling minimising sum of unaries and Potts pairwise terms, by max-flow.

    ``t[i] > 0`` is the cost of labelling node ``i`` background (minus that of foreground); ``w`` the
    cost of cutting each pair. Returns ``True`` for foreground (the source side of the cut).
    """
    scale = 1e6 / max(1.0, float(np.abs(t).max()), float(w.max(initial=1.0)))
    src, snk = n, n + 1
    tc = np.round(np.abs(t) * scale).astype(np.int64)
    wc = np.maximum(1, np.round(w * scale)).astype(np.int64)
    nodes = np.arange(n)
    pos = t > 0
    rows = np.concatenate([np.full(pos.sum(), src), nodes[~pos], pairs[:, 0], pairs[:, 1]])
    cols = np.concatenate([nodes[pos], np.full((~pos).sum(), snk), pairs[:, 1], pairs[:, 0]])
    cap = np.concatenate([tc[pos], tc[~pos], wc, wc]).astype(np.int32)
    graph = csr_matrix((cap, (rows, cols)), shape=(n + 2, n + 2))
    flow = maximum_flow(graph, src, snk).flow
    residual = (graph - flow).tocsr()
    residual.data = (residual.data > 0).astype(np.int8)
    residual.eliminate_zeros()
    reach = breadth_first_order(residual, src, directed=True, return_predecessors=False)
    label = np.zeros(n + 2, bool)
    label[reach] = True
    return label[:n]  # type: ignore[no-any-return]
