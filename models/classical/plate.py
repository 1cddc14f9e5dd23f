"""The background plate of a shot: the per-pixel median of its frames warped through the camera
(`models.classical.camera`) into plate coordinates, and sampling it back into a frame."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image, Mask
from models.classical.geometry import AnyArray, Matrix, model_scale, rescale_transform, resize


def plate_size(transforms: Sequence[Matrix], frame_shape: tuple[int, ...], s: float = 1.0) -> tuple[int, int]:
    """Canvas ``(height, width)`` at scale ``s`` that holds every frame; capped at 4x the frame."""
    h, w = frame_shape[:2]
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], dtype=np.float64).T
    pts = np.concatenate([(t @ corners)[:2] for t in transforms], axis=1)
    pw = min(int(np.ceil(pts[0].max())) + 1, 4 * w)
    ph = min(int(np.ceil(pts[1].max())) + 1, 4 * h)
    return max(1, round(ph * s)), max(1, round(pw * s))


def masked_median(stack: NDArray[np.uint8], valid: NDArray[np.bool_]) -> NDArray[np.uint8]:
    """Per-pixel median over axis 0 of ``stack`` (N, ..., C) using only ``valid`` (N, ...) entries.

    Invalid entries are replaced alternately by 0 and 255; balanced padding leaves the middle
    element among the valid values, so one selection in uint8 gives the answer without floats. Up
    to `NETWORK_MAX` entries the selection is a sorting network (element-wise min and max of whole
    rows, 2-3x faster than a partition along the stacked axis at every n up to 64, run on a few
    thousand positions at a time: `median_rows`)."""
    n, channels = stack.shape[0], stack.shape[-1]
    pixels = int(np.prod(stack.shape[1:-1], dtype=np.int64))
    # Planar rows (entry, channel, pixel): a per-pixel mask then broadcasts over rows of pixels. Over
    # an interleaved channel axis numpy's inner loop is 3 long, and the padding cost ~10x the network.
    planar = np.ascontiguousarray(np.reshape(stack, (n, pixels, channels)).transpose(0, 2, 1))
    seen = np.reshape(np.asarray(valid, bool), (n, pixels)).view(np.uint8)
    rank: NDArray[np.integer] = np.cumsum(seen == 0, axis=0, dtype=np.uint8 if n < 256 else np.int32)
    pad = (rank & 1).astype(np.uint8)
    pad -= 1  # uint8 wraps: an odd rank pads with 0, an even one with 255
    keep = seen * np.uint8(255)  # 255 where valid, 0 where not: a bit mask, no branching select
    planar &= keep[:, None]
    planar |= (pad & ~keep)[:, None]
    middle = median_rows(planar)
    return np.ascontiguousarray(middle.T).reshape(stack.shape[1:])


def median_rows(rows: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The entry a sort along axis 0 puts at ``len(rows) // 2``, for each position of ``rows[0]``.
    ``rows`` (contiguous) is overwritten.

    The network runs chunk by chunk of positions: its ~50 min/max passes over whole 1080p rows
    would stream every row through memory each time (4x slower); on a chunk the rows stay in the
    cache. The same comparisons on the same values: the same result."""
    n = rows.shape[0]
    if n > NETWORK_MAX:
        return np.asarray(np.partition(rows, n // 2, axis=0)[n // 2], dtype=np.uint8)
    flat = rows.reshape(n, -1)
    positions = flat.shape[1]
    width = 1 << max(0, n - 1).bit_length()
    network = median_network(width, n // 2)
    out = np.empty(positions, np.uint8)
    for a in range(0, positions, NETWORK_CHUNK):
        b = min(positions, a + NETWORK_CHUNK)
        # Padding to the network's width with 255 keeps the middle of the n real entries at n // 2.
        work = [flat[k, a:b] for k in range(n)] + [np.full(b - a, 255, np.uint8) for _ in range(width - n)]
        low = np.empty(b - a, np.uint8)
        for x, y in network:
            np.minimum(work[x], work[y], out=low)
            np.maximum(work[x], work[y], out=work[y])
            work[x], low = low, work[x]
        out[a:b] = work[n // 2]
    return out.reshape(rows.shape[1:])


NETWORK_CHUNK = 1 << 15  # positions of one chunk: 16 rows of it stay in the L2 cache, 64 rows in 2 MB


# Up to here the pruned network beats a partition (CPU s for a (n, 546, 1109, 3) stack, network vs
# partition: n=19 0.39 vs 0.65, 24 0.36 vs 0.94, 40 0.92 vs 1.45, 64 1.33 vs 3.10; n=65 doubles the
# network's width, and its padding rows of 255 would outnumber the frames).
NETWORK_MAX = 64


@functools.cache
def median_network(width: int, position: int) -> tuple[tuple[int, int], ...]:
    """The comparators of Batcher's odd-even merge sort on ``width`` (a power of two) entries that
    decide the entry at ``position``: after them, that entry is the one a full sort puts there."""
    pairs = []
    p = 1
    while p < width:
        k = p
        while k >= 1:
            for j in range(k % p, width - k, 2 * k):
                for i in range(min(k, width - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    # Walking back from the wanted position, keep only comparators that can move what lands there.
    live, kept = {position}, []
    for a, b in reversed(pairs):
        if a in live or b in live:
            kept.append((a, b))
            live |= {a, b}
    return tuple(kept[::-1])


def sample_indices(n: int, max_frames: int) -> list[int]:
    """At most ``max_frames`` indices spread evenly over ``range(n)``."""
    if n <= max_frames:
        return list(range(n))
    return sorted({round(float(x)) for x in np.linspace(0, n - 1, max_frames)})


def build_plate(
    frames: Sequence[Image],
    transforms: Sequence[Matrix],
    masks: Sequence[Mask | None] | None = None,
    scale: float | None = None,
    max_frames: int = 40,
) -> tuple[Image, NDArray[np.uint16]]:
    """Median background plate of a shot in plate coordinates.

    Parameters
    ----------
    frames, transforms
        The shot and its `estimate_camera` transforms.
    masks
        Optional known foreground per frame (excluded from the median, dilated a little).
    scale
        Resolution of the plate relative to the frames; default brings it to ``MODEL_SIDE``.
    max_frames
        At most this many frames, spread over the shot, enter the median (memory bound).

    Returns
    -------
    plate
        ``uint8`` RGB canvas at ``scale``.
    coverage
        ``uint16`` count of sampled frames that saw each plate pixel as background.
    """
    shape = frames[0].shape
    s = model_scale(shape) if scale is None else scale
    ph, pw = plate_size(transforms, shape, s)
    idx = sample_indices(len(frames), max_frames)
    grow = np.ones((3, 3), np.uint8)

    def hidden(i: int) -> Mask | None:
        if masks is None or masks[i] is None:
            return None
        fg = resize(np.asarray(masks[i], np.uint8) * 255, s, cv2.INTER_NEAREST)
        return np.asarray(cv2.dilate(fg, grow, iterations=2) > 0)

    stack, valid = plate_stack([resize(frames[i], s) for i in idx],
                               [rescale_transform(np.asarray(transforms[i]), s) for i in idx],
                               [hidden(i) for i in idx], (0, 0, pw, ph))
    return masked_median(stack, valid), valid.sum(axis=0).astype(np.uint16)


def plate_stack(
    images: Sequence[Image], transforms: Sequence[Matrix], hidden: Sequence[Mask | None],
    window: tuple[int, int, int, int],
) -> tuple[NDArray[np.uint8], NDArray[np.bool_]]:
    """``images`` warped by ``transforms`` (image to canvas, at the images' scale) into the canvas
    ``window`` (x0, y0, x1, y1), and where each shows background: not ``hidden`` (already grown as
    the caller wants; None: nothing hidden) and not on its eroded border (bilinear warping blends it
    with the black outside). The median's input, for `build_plate` and the stages' own plates."""
    x0, y0, x1, y1 = window
    stack = np.zeros((len(images), y1 - y0, x1 - x0, 3), np.uint8)
    valid = np.zeros((len(images), y1 - y0, x1 - x0), bool)
    edge = np.ones((3, 3), np.uint8)
    for k, (img, t, off) in enumerate(zip(images, transforms, hidden, strict=True)):
        m = np.asarray(t, np.float64)[:2].copy()
        m[:, 2] -= (x0, y0)  # the window as its own canvas
        ok: AnyArray = np.full(img.shape[:2], 255, np.uint8)
        if off is not None:
            ok[np.asarray(off, bool)] = 0
        ok = cv2.erode(ok, edge, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        stack[k] = cv2.warpAffine(img, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)
        valid[k] = cv2.warpAffine(ok, m, (x1 - x0, y1 - y0), flags=cv2.INTER_NEAREST) > 0
    return stack, valid


def warp_to_frame(
    plate: AnyArray, transform: Matrix, frame_shape: tuple[int, ...], s: float,
    interp: int = cv2.INTER_LINEAR,
) -> AnyArray:
    """Sample a plate at scale ``s`` back into a frame's pixels (also at scale ``s``)."""
    h, w = round(frame_shape[0] * s), round(frame_shape[1] * s)
    m = np.linalg.inv(rescale_transform(np.asarray(transform), s))[:2]
    return np.asarray(cv2.warpAffine(plate, m, (max(1, w), max(1, h)), flags=interp))



# OpenCV's fixed-point warp arithmetic (imgwarp.cpp): coordinates in 1/1024 px, then cut to 1/32 px.
_AB_BITS, _INTER_BITS = 10, 5
_MAP_COLUMNS = 4096  # remap's maps must be under 32767 a side: the pixels are laid out in rows of this


def warp_pixels(
    src: AnyArray, m: Matrix, ys: NDArray[np.intp], xs: NDArray[np.intp], *, cubic: bool = True,
) -> AnyArray:
    """Pixels ``(ys, xs)`` of ``cv2.warpAffine(src, m, flags=WARP_INVERSE_MAP | ...)`` without the rest
    of the output: bicubic with a replicated border, or nearest with 0 outside ``src``.

    The same values bit for bit (the coordinates are rounded exactly as warpAffine rounds them, then
    handed to remap), for a fraction of the work where few of the output box's pixels are wanted."""
    ab = 1 << _AB_BITS
    half = ab // 2 if not cubic else ab >> (_INTER_BITS + 1)
    rows = np.arange(int(ys.max()) + 1 if len(ys) else 0, dtype=np.float64)
    cols = np.arange(int(xs.max()) + 1 if len(xs) else 0, dtype=np.float64)
    x = np.rint((m[0, 1] * rows + m[0, 2]) * ab).astype(np.int32)[ys] + half
    x += np.rint(m[0, 0] * cols * ab).astype(np.int32)[xs]
    y = np.rint((m[1, 1] * rows + m[1, 2]) * ab).astype(np.int32)[ys] + half
    y += np.rint(m[1, 0] * cols * ab).astype(np.int32)[xs]
    n = len(ys)
    if not cubic:
        x >>= _AB_BITS
        y >>= _AB_BITS
        h, w = src.shape[:2]
        inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        out = np.zeros((n, *src.shape[2:]), src.dtype)
        out[inside] = src[y[inside], x[inside]]
        return out
    x >>= _AB_BITS - _INTER_BITS
    y >>= _AB_BITS - _INTER_BITS
    lines = max(1, -(-n // _MAP_COLUMNS))
    whole = np.zeros((lines * _MAP_COLUMNS, 2), np.int16)
    whole[:n, 0] = np.clip(x >> _INTER_BITS, -32768, 32767)  # warpAffine saturates them to short too
    whole[:n, 1] = np.clip(y >> _INTER_BITS, -32768, 32767)
    frac = np.zeros(lines * _MAP_COLUMNS, np.uint16)
    frac[:n] = ((y & 31) << _INTER_BITS) | (x & 31)
    out = cv2.remap(src, whole.reshape(lines, _MAP_COLUMNS, 2), frac.reshape(lines, _MAP_COLUMNS), cv2.INTER_CUBIC,
                    borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(out).reshape(lines * _MAP_COLUMNS, *src.shape[2:])[:n]
