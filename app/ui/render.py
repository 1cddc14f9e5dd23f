"""Turn layer arrays into premultiplied RGBA images for the frame view.

Everything here is plain numpy (plus one `QImage` wrap at the end) so it can run on the loader thread:
`QImage` is safe to build off the UI thread, `QPixmap` is not.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray
from PySide6.QtGui import QImage

from app.store.objects import object_color

# Bottom to top. "image" is the source frame; "alpha" shows the character cut out by its matte.
LAYER_ORDER: tuple[str, ...] = ("clean", "image", "alpha", "effects", "confidence", "masks")
LAYER_LABELS: dict[str, str] = {
    "clean": "Clean plate",
    "image": "Frame",
    "alpha": "Character RGBA",
    "effects": "Effects",
    "confidence": "Low confidence",
    "masks": "Object masks",
}
MASK_FILL_ALPHA = 110
RIM_RGBA = np.array([0, 0, 0, 200], np.uint8)  # the dark line just outside every outline
EFFECT_COLOR = (255, 70, 230)
LOW_CONFIDENCE_COLOR = (255, 40, 40)
MARGIN = 3  # px of background around the objects' box that `render_masks` draws (outline + rim reach 2)


def readable_color(color: tuple[int, int, int], min_luma: float = 120.0) -> tuple[int, int, int]:
    """``color`` lifted towards white until it reads on a dark frame (navy becomes a clear blue)."""
    r, g, b = (float(v) for v in color)
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    if luma >= min_luma:
        return int(r), int(g), int(b)
    t = (min_luma - luma) / max(1.0, 255.0 - luma)  # mix with white by exactly what is missing
    return tuple(round(v + (255.0 - v) * t) for v in (r, g, b))  # type: ignore[return-value]


def display_colors(colors: dict[int, tuple[int, int, int]], labels: NDArray[np.uint8] | None = None
                   ) -> dict[int, tuple[int, int, int]]:
    """Readable colours for every id in ``colors`` and every other id present in ``labels``."""
    out = {oid: readable_color(c) for oid, c in colors.items() if 0 < oid < 256}
    if labels is not None:
        counts = cv2.calcHist([labels], [0], None, [256], [0, 256]).ravel()  # ~20x np.bincount's speed
        for oid in np.flatnonzero(counts[1:]) + 1:
            out.setdefault(int(oid), readable_color(object_color(int(oid))))
    return out


def mask_lut(colors: dict[int, tuple[int, int, int]], alpha: int = MASK_FILL_ALPHA,
             active: int | None = None) -> NDArray[np.uint8]:
    """A 256-entry premultiplied RGBA table: object id -> fill colour (id 0 stays transparent).

    With an ``active`` object, it is filled more strongly and the others more faintly, so the object
    a click will edit stands out.
    """
    lut = np.zeros((256, 4), np.uint8)
    for oid, (r, g, b) in colors.items():
        if 0 < oid < 256:
            a = alpha if active is None else (min(255, alpha + 50) if oid == active else alpha // 2)
            lut[oid] = (r * a // 255, g * a // 255, b * a // 255, a)
    return lut


def outline_lut(colors: dict[int, tuple[int, int, int]]) -> NDArray[np.uint8]:
    lut = np.full((256, 4), 255, np.uint8)
    lut[:, :3] = 200
    lut[0] = RIM_RGBA
    for oid, (r, g, b) in colors.items():
        if 0 < oid < 256:
            lut[oid] = (r, g, b, 255)
    return lut


def render_masks(labels: NDArray[np.uint8], colors: dict[int, tuple[int, int, int]],
                 active: int | None = None) -> NDArray[np.uint8]:
    """Semi-transparent fill plus an opaque outline in each object's (readable) colour.

    Ids the object list does not name get their own palette colour, never a shared grey. A dark
    1 px rim outside each outline keeps it visible on light frames too; the active object's outline
    is twice as wide.
    """
    shown = display_colors(colors, labels)
    h, w = labels.shape
    rgba = np.zeros((h, w, 4), np.uint8)
    # Only the box around the objects is drawn: everything beyond it is background, transparent. The
    # outline, the active object's wider one and the rim reach 2 px outside the objects; a margin of
    # 3 keeps the morphology at the box's border seeing background, as it would in the whole frame.
    # Characters rarely fill a frame, so this cuts a click's 1080p overlay several-fold.
    x, y, bw, bh = cv2.boundingRect(labels)
    if bw == 0:
        return rgba
    x0, y0, x1, y1 = max(0, x - MARGIN), max(0, y - MARGIN), min(w, x + bw + MARGIN), min(h, y + bh + MARGIN)
    box = np.ascontiguousarray(labels[y0:y1, x0:x1])
    rgba[y0:y1, x0:x1] = _render_box(box, shown, active)
    return rgba



def _render_box(labels: NDArray[np.uint8], shown: dict[int, tuple[int, int, int]],
                active: int | None) -> NDArray[np.uint8]:
    # cv2.LUT on a 4-channel view is several times faster than numpy fancy indexing at 1080p.
    four = cv2.merge([labels] * 4)
    rgba = np.asarray(cv2.LUT(four, mask_lut(shown, active=active).reshape(256, 1, 4)), np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    hi = cv2.dilate(labels, kernel)
    edge = cv2.compare(hi, cv2.erode(labels, kernel), cv2.CMP_NE)
    if cv2.countNonZero(edge):
        grown = cv2.dilate(edge, kernel)
        if active is not None:
            edge = cv2.bitwise_or(edge, cv2.bitwise_and(grown, cv2.inRange(labels, active, active)))
        # One table pass draws both: outline pixels look up their object, rim pixels (background just
        # outside the outline) look up entry 0, the dark rim colour.
        rim = cv2.bitwise_and(cv2.bitwise_and(grown, cv2.inRange(labels, 0, 0)), cv2.bitwise_not(edge))
        index = cv2.bitwise_and(hi, edge)
        outline = cv2.LUT(cv2.merge([index] * 4), outline_lut(shown).reshape(256, 1, 4))
        cv2.copyTo(outline, cv2.bitwise_or(edge, rim), rgba)
    return rgba


def render_tint(strength: NDArray[np.uint8], color: tuple[int, int, int], gain: float = 0.85) -> NDArray[np.uint8]:
    """A colour whose opacity follows ``strength`` (low confidence)."""
    a = (strength.astype(np.uint16) * int(gain * 256) >> 8).astype(np.uint8)
    out = np.empty((*strength.shape, 4), np.uint8)
    for c in range(3):
        out[..., c] = (a.astype(np.uint16) * color[c] // 255).astype(np.uint8)
    out[..., 3] = a
    return out


def _heat_lut() -> NDArray[np.uint8]:
    """Premultiplied RGBA per strength: transparent at 0, then blue -> red -> yellow -> white, and
    opaque from a third of full strength, so faint effects are seen, not lost in black."""
    ramp = cv2.applyColorMap(np.arange(256, dtype=np.uint8).reshape(256, 1), cv2.COLORMAP_TURBO)
    rgb = cv2.cvtColor(ramp, cv2.COLOR_BGR2RGB).reshape(256, 3).astype(np.uint16)
    alpha = np.clip(np.arange(256) * 3, 0, 255).astype(np.uint16)
    alpha[0] = 0
    lut = np.empty((256, 4), np.uint8)
    lut[:, :3] = (rgb * alpha[:, None] // 255).astype(np.uint8)
    lut[:, 3] = alpha.astype(np.uint8)
    return lut


HEAT_LUT = _heat_lut()


def render_heat(strength: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Effects as a heat map: where and how strongly, readable alone or over the frame."""
    return np.asarray(cv2.LUT(cv2.merge([strength] * 4), HEAT_LUT.reshape(256, 1, 4)), np.uint8)


def render_light(strength: NDArray[np.uint8], colour: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The RGBA light layer in its own colours (premultiplied). Opacity is the square root of the
    strength: light a quarter strong still reads at half opacity, alone over black or over the frame."""
    a = np.sqrt(strength.astype(np.float32) / 255.0)
    rgb = colour.astype(np.float32) * a[..., None]
    return np.asarray(np.dstack([rgb, a * 255.0]) + 0.5, np.uint8)


INVENTED_RGB = np.array((255, 40, 200), np.float32)  # magenta: no anime background is painted in it
INVENTED_STRIPE = 6  # px (of the picture drawn) per diagonal stripe of the hatch


def mark_invented(plate: NDArray[np.uint8], invented: NDArray[np.bool_]) -> NDArray[np.uint8]:
    """The clean plate with the pixels no frame of the shot shows (inpainted, made up) hatched in
    magenta: diagonal stripes, one strong and one faint, so the made-up picture still shows through."""
    x, y, bw, bh = cv2.boundingRect(invented.view(np.uint8))
    if bw == 0:
        return plate
    out = plate.copy()
    yy, xx = np.mgrid[y:y + bh, x:x + bw]
    strong = ((yy + xx) // INVENTED_STRIPE) % 2 == 0
    mix = np.where(strong, 0.55, 0.25).astype(np.float32)[..., None]
    box = out[y:y + bh, x:x + bw]
    tinted = box.astype(np.float32) * (1.0 - mix) + INVENTED_RGB * mix
    here = invented[y:y + bh, x:x + bw]
    box[here] = (tinted[here] + 0.5).astype(np.uint8)
    return out


def checkerboard(width: int, height: int, cell: int = 16) -> NDArray[np.uint8]:
    """Light and mid grey squares: what "transparent" looks like in every image editor."""
    yy, xx = np.mgrid[:height, :width]
    board = ((yy // cell + xx // cell) % 2).astype(np.uint8)
    grey = np.where(board > 0, 204, 153).astype(np.uint8)
    return np.asarray(cv2.merge([grey] * 3), np.uint8)


def render_cutout(image: NDArray[np.uint8], alpha: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The frame premultiplied by the character matte."""
    rgb = cv2.multiply(image, cv2.merge([alpha] * 3), scale=1 / 255)
    return np.asarray(cv2.merge([*cv2.split(rgb), alpha]), np.uint8)


def fit(array: NDArray[np.uint8], size: tuple[int, int], nearest: bool = False) -> NDArray[np.uint8]:
    """Resize to (w, h) when needed; label maps must use ``nearest`` so ids never blend."""
    h, w = array.shape[:2]
    if (w, h) == size:
        return array
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
    return np.asarray(cv2.resize(array, size, interpolation=interp))


def to_qimage(array: NDArray[np.uint8]) -> QImage:
    """Copy an RGB or premultiplied RGBA uint8 array into a `QImage` that owns its pixels.

    The image is built in Qt's native raster formats (RGB32 / ARGB32_Premultiplied, BGRA in memory)
    so that `QPixmap.fromImage` on the UI thread shares the pixels instead of converting 8 MB per
    1080p layer; the byte shuffle happens here, on the loader thread.
    """
    data = np.ascontiguousarray(array)
    h, w = data.shape[:2]
    if data.ndim == 2:
        return QImage(data.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    if data.shape[2] == 3:
        bgra = np.ascontiguousarray(cv2.cvtColor(data, cv2.COLOR_RGB2BGRA))
        return QImage(bgra.data, w, h, 4 * w, QImage.Format.Format_RGB32).copy()
    bgra = np.ascontiguousarray(cv2.cvtColor(data, cv2.COLOR_RGBA2BGRA))
    return QImage(bgra.data, w, h, 4 * w, QImage.Format.Format_ARGB32_Premultiplied).copy()


def qimage_to_array(image: QImage) -> NDArray[np.uint8]:
    """RGBA copy of a `QImage` (for tests and screenshots that check pixels)."""
    img = image.convertToFormat(QImage.Format.Format_RGBA8888)
    w, h = img.width(), img.height()
    buf = np.frombuffer(img.constBits(), np.uint8, count=img.bytesPerLine() * h)
    return buf.reshape(h, img.bytesPerLine())[:, : 4 * w].reshape(h, w, 4).copy()


def confidence_mean(conf: NDArray[np.uint8] | None) -> float:
    return float("nan") if conf is None else float(conf.mean()) / 255.0


