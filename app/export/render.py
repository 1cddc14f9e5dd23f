"""Pixel work shared by the formats: per-object mattes, cut-outs, bucket crops and PNG encoding."""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import partial

import cv2
import numpy as np
from PIL import Image

from models.classical.labelmaps import filled
from models.classical.morphology import grown_box

# SDXL's training buckets: about 1024x1024 pixels of area, sides multiples of 64.
SDXL_BUCKETS: tuple[tuple[int, int], ...] = (
    (1024, 1024), (1088, 960), (960, 1088), (1152, 896), (896, 1152), (1216, 832), (832, 1216),
    (1344, 768), (768, 1344), (1408, 704), (704, 1408), (1536, 640), (640, 1536),
)
DEFAULT_PNG_LEVEL = 1  # benchmarks/export.py: on grainy 1080p RGBA, ~2.5x faster than 3 for ~4% more bytes
EDGE_RADIUS = 3  # soft edge pixels (alpha < 0.5, label 0) within this distance belong to the object


def object_alpha(labels: np.ndarray, alpha: np.ndarray | None, oid: int) -> np.ndarray:
    """uint8 (H, W) matte of object ``oid``.

    The stored matte is the union of all characters; the label map says whose a pixel is where
    alpha >= 0.5. The soft fringe outside the label (label 0) is given to the object within
    ``EDGE_RADIUS`` pixels; pixels labelled with another object never are.
    """
    own = labels == oid
    if alpha is None:
        return own.astype(np.uint8) * 255
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * EDGE_RADIUS + 1, 2 * EDGE_RADIUS + 1))
    grown = cv2.dilate(own.astype(np.uint8), kernel).astype(bool)
    region = own | (grown & (labels == 0))
    region |= _enclosed_unlabelled(region, labels)
    return np.where(region, alpha, 0).astype(np.uint8)


def _enclosed_unlabelled(region: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The holes of ``region`` that no object labels (label 0 throughout): the matte decided them
    (an eye white or a lens the mask missed but the character's outline closes, which the matte
    fills; background seen between an arm and the body, which it leaves at 0). Without them a
    cut-out showed such a hole beyond ``EDGE_RADIUS`` as transparent whatever the matte said
    (onepiece_demo.mp4 frame 0: the middle of Coby's lenses)."""
    out = np.zeros(region.shape, bool)
    box = grown_box(region, 0)
    if box is None:
        return out
    holes = filled(region[box].view(np.uint8)) & ~region[box]
    n, comp = cv2.connectedComponents(holes.view(np.uint8), connectivity=4)
    labelled = np.bincount(comp.ravel(), weights=(labels[box] != 0).ravel(), minlength=n) > 0
    labelled[0] = True  # component 0 is the region and its outside
    out[box] = ~labelled[comp]
    return out


def characters_alpha(labels: np.ndarray, alpha: np.ndarray | None, ids: list[int]) -> np.ndarray:
    """uint8 matte of several objects together (the union of their `object_alpha`)."""
    out = np.zeros(labels.shape, np.uint8)
    for oid in ids:
        np.maximum(out, object_alpha(labels, alpha, oid), out=out)
    return out


def decontaminate(image: np.ndarray, alpha: np.ndarray, clean: np.ndarray | None) -> np.ndarray:
    """Foreground colour without the background bleeding through soft edges.

    With a clean plate ``I = a F + (1 - a) B`` is solved for ``F``; without one the frame's colour
    is used as is. Fully opaque pixels are never changed.
    """
    if clean is None:
        return image
    a = alpha.astype(np.float32)[..., None] / 255.0
    soft = (alpha > 0) & (alpha < 255)
    fg = (image.astype(np.float32) - (1.0 - a) * clean.astype(np.float32)) / np.maximum(a, 1.0 / 255.0)
    out = image.copy()
    out[soft] = np.clip(np.rint(fg[soft]), 0, 255).astype(np.uint8)
    return out


def parse_colour(text: str) -> tuple[int, int, int] | None:
    """``transparent`` -> None; ``white``/``black``/``grey`` or ``#rrggbb`` -> RGB."""
    named = {"white": (255, 255, 255), "black": (0, 0, 0), "grey": (128, 128, 128), "gray": (128, 128, 128)}
    t = text.strip().lower()
    if t in ("", "transparent", "none"):
        return None
    if t in named:
        return named[t]
    t = t.lstrip("#")
    if len(t) == 6 and all(c in "0123456789abcdef" for c in t):
        return (int(t[0:2], 16), int(t[2:4], 16), int(t[4:6], 16))
    raise ValueError(f"not a colour: {text!r}")


def cutout(rgb: np.ndarray, alpha: np.ndarray, background: tuple[int, int, int] | None) -> np.ndarray:
    """RGBA (H, W, 4); on a flat background the RGB is composited over it (alpha kept for masked loss)."""
    if background is None:
        colour = np.where(alpha[..., None] > 0, rgb, 0).astype(np.uint8)
    else:
        a = alpha.astype(np.float32)[..., None] / 255.0
        colour = np.rint(a * rgb + (1 - a) * np.asarray(background, np.float32)).astype(np.uint8)
    return np.dstack([colour, alpha])


def bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1), exclusive ends, of the nonzero pixels; None if empty."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def nearest_bucket(w: int, h: int, buckets: tuple[tuple[int, int], ...] = SDXL_BUCKETS) -> tuple[int, int]:
    ratio = np.log(w / max(h, 1))
    return min(buckets, key=lambda b: abs(np.log(b[0] / b[1]) - ratio))


def bucket_crop(alpha: np.ndarray, margin: float = 0.1) -> tuple[tuple[int, int, int, int], tuple[int, int]]:
    """A crop box around the object with the aspect of its nearest SDXL bucket, and that bucket.

    The box grows (never shrinks) around the object's bounding box plus ``margin`` to reach the
    bucket's aspect, then is shifted to stay inside the frame; if the frame is too small in one
    direction the box is clipped and the crop is resized with a small aspect change.
    """
    H, W = alpha.shape
    box = bbox(alpha) or (0, 0, W, H)
    x0, y0, x1, y1 = box
    bw, bh = (x1 - x0) * (1 + 2 * margin), (y1 - y0) * (1 + 2 * margin)
    bucket = nearest_bucket(int(max(bw, 1)), int(max(bh, 1)))
    ar = bucket[0] / bucket[1]
    if bw / bh < ar:
        bw = bh * ar
    else:
        bh = bw / ar
    bw, bh = min(bw, W), min(bh, H)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = round(min(max(cx - bw / 2, 0), W - bw))
    top = round(min(max(cy - bh / 2, 0), H - bh))
    return (left, top, left + round(bw), top + round(bh)), bucket


def crop_resize(array: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    part = np.ascontiguousarray(array[y0:y1, x0:x1])
    shrink = size[0] < part.shape[1]
    return cv2.resize(part, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)  # linear: no overshoot halos


def encode_png(array: np.ndarray, level: int = DEFAULT_PNG_LEVEL) -> bytes:
    """PNG bytes of a grey (H, W), RGB (H, W, 3) or RGBA (H, W, 4) uint8/uint16 array."""
    data = np.ascontiguousarray(array)
    if data.ndim == 3 and data.shape[2] == 3:
        data = cv2.cvtColor(data, cv2.COLOR_RGB2BGR)
    elif data.ndim == 3 and data.shape[2] == 4:
        data = cv2.cvtColor(data, cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(".png", data, [cv2.IMWRITE_PNG_COMPRESSION, int(level)])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def encode_palette_png(labels: np.ndarray, colours: dict[int, tuple[int, int, int]]) -> bytes:
    """An indexed PNG whose pixel values are the object ids and whose palette is the object colours."""
    palette = np.zeros((256, 3), np.uint8)
    for oid, colour in colours.items():
        palette[oid] = colour
    img = Image.fromarray(np.ascontiguousarray(labels, np.uint8), mode="P")
    img.putpalette(palette.ravel().tolist())
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=DEFAULT_PNG_LEVEL)
    return buf.getvalue()


def to_16bit(alpha: np.ndarray) -> np.ndarray:
    """uint8 0..255 -> uint16 0..65535 (x257, so 255 maps exactly to 65535)."""
    return alpha.astype(np.uint16) * 257


def png_job(array: np.ndarray, level: int = DEFAULT_PNG_LEVEL) -> Callable[[], bytes]:
    """A deferred `encode_png` (run only if the file is not already fresh)."""
    return partial(encode_png, array, level)


def const(data: bytes) -> Callable[[], bytes]:
    """A producer of bytes already in hand."""
    return partial(bytes, data)
