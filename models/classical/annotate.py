"""The annotate stage, weight-free: tags, a caption and an identity embedding from masks and colours.

What can be said without a model: how many characters, their hair / eye / clothes colours (hair is
the top of a character mask, clothes the lower half, eyes the saturated small blobs in the face
band), the shot type from how much of the frame the main character fills, and which effects are
present. The embedding (colour histograms of the hair and body plus shape features) clusters
identities across a shot. Also: a 64-bit perceptual hash and near-duplicate grouping. Identity
across shots is `models.classical.identity` (linked at the segment stage, not clustered afterwards).
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import FrameAnnotation, Image, Labels, ObjectKind, Role

# A small palette of nameable colours (RGB); anime hair and clothes mostly fall near one of these.
PALETTE: dict[str, tuple[int, int, int]] = {
    "black": (30, 30, 35), "grey": (128, 128, 128), "white": (235, 235, 235),
    "red": (200, 40, 40), "orange": (235, 140, 50), "blonde": (240, 215, 120),
    "brown": (120, 75, 45), "green": (60, 160, 70), "aqua": (70, 200, 200),
    "blue": (50, 90, 200), "purple": (130, 70, 180), "pink": (240, 150, 190),
}
# Dark shades anime uses for clothes and hair (a crimson vest, a navy uniform) sit nearer brown or
# black in Lab than their own hue's bright anchor: each gets an anchor of its own under the same name.
SHADES: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("red", (120, 22, 32)), ("blue", (30, 40, 105)), ("green", (30, 85, 45)), ("purple", (75, 35, 105)),
)
_NAMES = list(PALETTE)
_ANCHORS = [*PALETTE.items(), *SHADES]
_ANCHOR_NAME = np.array([_NAMES.index(name) for name, _ in _ANCHORS], np.uint8)
_LAB = cv2.cvtColor(np.array([[rgb for _, rgb in _ANCHORS]], np.uint8), cv2.COLOR_RGB2LAB)[0].astype(np.float32)


def colour_names(pixels: NDArray[np.uint8]) -> NDArray[np.intp]:
    """Index into ``PALETTE`` of the name of the nearest anchor colour (in Lab: `PALETTE` and
    `SHADES`) of each ``(N, 3)`` RGB pixel."""
    lab = cv2.cvtColor(pixels.reshape(-1, 1, 3), cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.intp)
    return _nearest_named()[(lab[:, 0] << 16) | (lab[:, 1] << 8) | lab[:, 2]].astype(np.intp)


@functools.cache
def _nearest_named() -> NDArray[np.uint8]:
    """The name of the nearest anchor of every 8-bit Lab triple (16 MB, made once, ~0.3 s): a look-up
    instead of twelve distances per pixel. Lab values and palette are whole numbers, so the squared
    distances are exact integers and the look-up equals computing them (ties: the first entry)."""
    ab = np.arange(256, dtype=np.int32)
    a, b = np.meshgrid(ab, ab, indexing="ij")
    palette = _LAB.astype(np.int32)
    table = np.empty((256, 256, 256), np.uint8)
    for lum in range(256):
        d = (lum - palette[:, 0, None, None]) ** 2 + (a - palette[:, 1, None, None]) ** 2 + (b - palette[:, 2, None, None]) ** 2
        table[lum] = _ANCHOR_NAME[np.argmin(d, axis=0)]
    return table.ravel()


def dominant_colour(pixels: NDArray[np.uint8], exclude: tuple[str, ...] = ()) -> tuple[str, float] | None:
    """Most frequent named colour of ``pixels`` and its share, ignoring dark outline pixels."""
    if len(pixels) == 0:
        return None
    # Line art would make everything "black": dark pixels are left out while they are a minority
    # (outlines and shading); where most of the region is that dark, it is black (anime black hair).
    keep = pixels.max(axis=1) > 45
    names = colour_names(pixels[keep] if keep.sum() > 0.5 * len(pixels) else pixels)
    counts = np.bincount(names, minlength=len(_NAMES)).astype(np.float64)
    for e in exclude:
        counts[_NAMES.index(e)] = 0
    if counts.sum() == 0:
        return None
    k = int(np.argmax(counts))
    return _NAMES[k], float(counts[k] / max(1, len(names)))


def _skin(pixels: NDArray[np.uint8]) -> NDArray[np.bool_]:
    hsv = cv2.cvtColor(pixels.reshape(-1, 1, 3), cv2.COLOR_RGB2HSV).reshape(-1, 3)
    return (hsv[:, 0] <= 18) & (hsv[:, 1] >= 20) & (hsv[:, 1] <= 120) & (hsv[:, 2] >= 150)  # type: ignore[no-any-return]


def face_top(image: Image, mask: NDArray[np.bool_], y0: int, hgt: int, top: int = 0) -> int | None:
    """The first row of the character's upper half whose mask is a quarter skin (the top of the
    face), or None when there is none below the very top of the mask. ``top``: the frame row of the
    first row of ``image`` and ``mask`` when they are a crop (rows are frame rows in and out)."""
    rows = np.arange(top, top + mask.shape[0])[:, None]
    upper = mask & (rows < y0 + hgt // 2)
    skin = np.zeros(mask.shape, bool)
    skin[upper] = _skin(image[upper])
    per_row = skin.sum(axis=1) / np.maximum(1, upper.sum(axis=1))
    faced = np.flatnonzero((per_row >= 0.25) & (skin.sum(axis=1) >= 3))
    return int(faced[0]) + top if len(faced) and faced[0] + top > y0 + 0.05 * hgt else None


def mask_box(mask: NDArray[np.bool_]) -> tuple[slice, slice]:
    """The bounding box of a non-empty mask: per-object work is done on it, not on the frame."""
    x, y, w, h = cv2.boundingRect(np.ascontiguousarray(mask).view(np.uint8))
    return slice(y, y + h), slice(x, x + w)


def describe_character(image: Image, mask: NDArray[np.bool_]) -> dict[str, Any]:
    """Hair, eye and clothes colours of one character mask (``None`` where nothing is clear)."""
    size = mask.size
    box = mask_box(mask)
    top, left = box[0].start, box[1].start
    image, mask = image[box], mask[box]  # frame rows are kept below: the bands are the same pixels
    ys, xs = np.nonzero(mask)
    y0, y1 = int(ys.min()) + top, int(ys.max()) + 1 + top
    hgt = y1 - y0
    rows = np.arange(top, top + mask.shape[0])[:, None]
    band = lambda a, b: mask & (rows >= y0 + a * hgt) & (rows < y0 + b * hgt)  # noqa: E731
    # Hair and eyes are read around the top of the face when it is found: the top of the mask is a
    # hat as often as hair (a character's accessories are part of its mask).
    ft = face_top(image, mask, y0, hgt, top)
    above, below = (0.0, 0.2) if ft is None else ((ft - y0) / hgt - 0.08, (ft - y0) / hgt + 0.08)
    hair_px = image[band(above, below)]
    hair = dominant_colour(hair_px[~_skin(hair_px)] if len(hair_px) else hair_px)
    # Bare arms and chest are not clothes: skin is left out unless it is nearly all the band shows.
    body = image[band(0.5, 1.0)]
    covered = body[~_skin(body)] if len(body) else body
    clothes = dominant_colour(covered if len(covered) >= 0.25 * len(body) else body)
    face = image[band(0.15, 0.4) if ft is None else band((ft - y0) / hgt, (ft - y0) / hgt + 0.2)]
    eyes = None
    if len(face):
        hsv = cv2.cvtColor(face.reshape(-1, 1, 3), cv2.COLOR_RGB2HSV).reshape(-1, 3)
        vivid = face[(hsv[:, 1] > 90) & (hsv[:, 2] > 60) & ~_skin(face)]
        # Vivid pixels named grey are tan shading or a glasses frame, not an eye colour.
        excl = ("black", "grey", "white", *((hair[0],) if hair else ()))
        # Eyes are small: a few percent of the face band, in a colour other than the hair's.
        if 0.005 * len(face) < len(vivid) < 0.1 * len(face):
            got = dominant_colour(vivid, excl)
            eyes = got[0] if got and got[1] > 0.3 else None
    return {"hair": hair[0] if hair else None, "eyes": eyes, "clothes": clothes[0] if clothes else None,
            "area": float(len(ys) / size), "bbox": (int(xs.min()) + left, y0, int(xs.max()) + 1 + left, y1)}


def object_embedding(image: Image, mask: NDArray[np.bool_]) -> NDArray[np.float32]:
    """Identity embedding: HSV histograms of the hair band and the whole object, plus shape."""
    if not mask.any():
        return np.zeros(8 * 4 * 2 + 7 + 2, np.float32)
    box = mask_box(mask)
    image, mask = image[box], mask[box]  # shape features and histograms do not depend on position
    ys, xs = np.nonzero(mask)
    y0, hgt = ys.min(), ys.max() + 1 - ys.min()
    hsv = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2HSV)
    parts = []
    for sel in (mask & (np.arange(mask.shape[0])[:, None] < y0 + 0.25 * hgt), mask):
        px = hsv[sel]
        h = np.histogram2d(px[:, 0], px[:, 1], bins=(8, 4), range=((0, 180), (0, 256)))[0].ravel()
        parts.append(h / max(1.0, h.sum()))
    hu = cv2.HuMoments(cv2.moments(mask.astype(np.uint8), binaryImage=True)).ravel()
    hu = -np.sign(hu) * np.log10(np.abs(hu) + 1e-30) / 30.0
    w = xs.max() + 1 - xs.min()
    shape = np.array([hgt / max(1, w) / 4.0, len(ys) / max(1, hgt * w)])
    v = np.concatenate([*parts, 0.3 * hu, shape]).astype(np.float32)
    return v / max(1e-9, float(np.linalg.norm(v)))  # type: ignore[no-any-return]


def shot_type(area: float) -> str:
    """Shot type from the main character's share of the frame."""
    return "close-up" if area > 0.25 else "medium shot" if area > 0.06 else "wide shot"


class ClassicalAnnotator:
    """Weight-free annotator: counts, colours, shot type, effects, and an identity embedding.

    Parameters
    ----------
    min_area:
        Objects smaller than this share of the frame are ignored.
    """

    name: ClassVar[str] = "classical"
    role: ClassVar[Role] = "annotator"

    def __init__(self, *, min_area: float = 0.002) -> None:
        self.min_area = min_area

    def load(self, device: str = "cpu") -> None:
        """Nothing to load."""

    def release(self) -> None:
        """Nothing to release."""

    def annotate(self, image: Image, labels: Labels, kinds: dict[int, ObjectKind]) -> FrameAnnotation:
        """Tags, caption and embedding (of the largest character) for one frame."""
        area = np.bincount(labels.ravel(), minlength=256) / labels.size
        present = [k for k in range(1, 256) if area[k] >= self.min_area]
        chars = sorted((k for k in present if kinds.get(k, "character") == "character"), key=lambda k: -area[k])
        effects = [k for k in present if kinds.get(k) == "effect"]
        props = [k for k in present if kinds.get(k) == "prop"]
        tags = [f"{len(chars)}character{'s' if len(chars) != 1 else ''}" if chars else "no_characters"]
        objects: dict[int, dict[str, Any]] = {}
        phrases = []
        for k in chars:
            d = describe_character(image, labels == k)
            d["embedding"] = object_embedding(image, labels == k)
            objects[k] = d
            bits = [f"{d['hair']} hair" if d["hair"] else "", f"{d['eyes']} eyes" if d["eyes"] else ""]
            for b in (*bits, f"{d['clothes']} clothes" if d["clothes"] else ""):
                if b and b not in tags:
                    tags.append(b)
            desc = " and ".join(b for b in bits if b)
            phrases.append(("a character with " + desc if desc else "a character")
                           + (f" wearing {d['clothes']} clothes" if d["clothes"] else ""))
        shot = shot_type(float(area[chars[0]])) if chars else "wide shot"
        tags.append(shot)
        if effects:
            tags.append("effects")
        if props:
            tags.append("props")
        caption = f"A {shot} of " + ("; ".join(phrases) if phrases else "the background")
        if effects:
            caption += f", with {len(effects)} visual effect{'s' if len(effects) > 1 else ''}"
        caption += "."
        emb = objects[chars[0]]["embedding"] if chars else None
        return FrameAnnotation(tags=tags, caption=caption, embedding=emb,
                               extra={"objects": objects, "shot": shot, "phash": perceptual_hash(image)})


def perceptual_hash(image: Image) -> int:
    """64-bit difference hash (dHash): signs of horizontal gradients of a 9x8 grey thumbnail."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    small = cv2.resize(grey, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def hamming(a: int, b: int) -> int:
    """Number of differing bits."""
    return (a ^ b).bit_count()
