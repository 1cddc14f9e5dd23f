"""Characters for the demo generator: procedural cel-shaded figures or RGBA PNGs from a folder.

A `Sprite` holds premultiplied colour and an exact alpha. Procedural characters are painted at a
supersampled resolution with flat fills, two or three cel tones and dark outlines, then reduced with
area averaging, so the alpha has real soft edges, most of all along the thin hair strands.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from app.errors import InputError

# Design space of a procedural character: 200 units wide, 400 units tall, feet at y = 392.
DESIGN_W = 200.0
DESIGN_H = 400.0

HAIR_COLOURS = [
    (236, 120, 170), (90, 130, 225), (215, 220, 235), (245, 160, 70), (55, 60, 95),
    (245, 215, 120), (90, 190, 140), (150, 100, 210), (200, 60, 70),
]
EYE_COLOURS = [(60, 140, 230), (200, 60, 80), (60, 170, 90), (160, 80, 200), (230, 150, 40)]
CLOTH_COLOURS = [
    (40, 60, 120), (230, 230, 235), (200, 50, 60), (60, 120, 80), (245, 200, 80),
    (70, 70, 80), (120, 170, 230), (230, 130, 160),
]
SKIN = (252, 226, 208)


@dataclass
class Sprite:
    """One character picture.

    Attributes
    ----------
    name, identity : str
        Display name and a stable identity (procedural seed or file stem).
    premult : np.ndarray
        float32 (h, w, 3) colour in 0..255 already multiplied by alpha.
    alpha : np.ndarray
        float32 (h, w) exact coverage in [0, 1].
    full_body : bool
        True when the feet are in the picture (placed on the ground); False for busts, which are
        placed with their lower edge below the frame.
    colour : tuple[int, int, int]
        A representative colour (hair), used as the object's display colour.
    """

    name: str
    identity: str
    premult: np.ndarray
    alpha: np.ndarray
    full_body: bool
    colour: tuple[int, int, int]

    @property
    def rgba(self) -> np.ndarray:
        """float32 (h, w, 4): premultiplied colour and alpha stacked, warped in one call."""
        cached: np.ndarray | None = self.__dict__.get("_rgba")
        if cached is None:
            cached = np.ascontiguousarray(np.dstack([self.premult, self.alpha]), np.float32)
            self.__dict__["_rgba"] = cached
        return cached


def _shade(colour: tuple[int, int, int], f: float) -> tuple[int, int, int]:
    if f <= 1.0:
        return (int(colour[0] * f), int(colour[1] * f), int(colour[2] * f))
    return tuple(int(c + (255 - c) * (f - 1.0)) for c in colour)  # type: ignore[return-value]


class _Canvas:
    """A supersampled RGBA canvas painted in design units."""

    def __init__(self, scale: float) -> None:
        self.s = scale
        self.h = round(DESIGN_H * scale)
        self.w = round(DESIGN_W * scale)
        self.rgb = np.zeros((self.h, self.w, 3), np.uint8)
        self.alpha = np.zeros((self.h, self.w), np.uint8)

    def pts(self, points: np.ndarray | list[tuple[float, float]]) -> np.ndarray:
        return np.round(np.asarray(points, np.float64) * self.s).astype(np.int32)

    def mask(self, points: np.ndarray | list[tuple[float, float]]) -> np.ndarray:
        m = np.zeros((self.h, self.w), np.uint8)
        cv2.fillPoly(m, [self.pts(points)], 255)
        return m

    def fill(self, m: np.ndarray, colour: tuple[int, int, int]) -> None:
        sel = m > 0
        self.rgb[sel] = colour
        self.alpha[sel] = 255

    def cel(self, points: np.ndarray, colour: tuple[int, int, int], *, shadow: float = 9.0,
            highlight: float = 0.0, outline: float = 1.6, clip: np.ndarray | None = None) -> np.ndarray:
        """Fill a part with base, shadow (lower right) and highlight (upper left) tones, outlined."""
        m = self.mask(points)
        if clip is not None:
            m = cv2.bitwise_and(m, clip)
        self.fill(m, colour)
        d = max(1, round(shadow * self.s))
        # A pixel is in shadow when a point towards the lower right is outside the part: a rim of
        # shadow on the side away from the light, the usual two-tone cel look.
        shifted = np.zeros_like(m)
        shifted[: self.h - d, : self.w - d] = m[d:, d:]
        self.fill(cv2.bitwise_and(m, cv2.bitwise_not(shifted)), _shade(colour, 0.72))
        if highlight > 0:
            h = max(1, round(highlight * self.s))
            back = np.zeros_like(m)
            back[h:, h:] = m[: self.h - h, : self.w - h]
            rim = cv2.bitwise_and(m, cv2.bitwise_not(back))
            self.fill(cv2.bitwise_and(rim, shifted), _shade(colour, 1.35))
        if outline > 0:
            self.stroke(points, _shade(colour, 0.3), outline, closed=True)
        return m

    def stroke(self, points: np.ndarray | list[tuple[float, float]], colour: tuple[int, int, int],
               width: float, *, closed: bool = False) -> None:
        t = max(1, round(width * self.s))
        p = self.pts(points)
        cv2.polylines(self.rgb, [p], closed, colour, t, cv2.LINE_8)
        cv2.polylines(self.alpha, [p], closed, 255, t, cv2.LINE_8)


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 48) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)


def _curve(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, n: int = 12) -> np.ndarray:
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2


def _hair_strands(cv: _Canvas, rng: np.random.Generator, colour: tuple[int, int, int],
                  long_hair: bool) -> None:
    """Thin strands leaving the hair silhouette: sub-pixel lines once reduced, so soft alpha."""
    dark = _shade(colour, 0.55)
    for _ in range(int(rng.integers(22, 34))):
        ang = rng.uniform(-np.pi * 1.05, np.pi * 0.05)  # around the crown, down to the temples
        r0 = rng.uniform(56, 64)
        p0 = np.array([100 + r0 * np.cos(ang), 92 + r0 * np.sin(ang)])
        bend = ang + rng.uniform(-0.5, 0.5)
        out = np.array([np.cos(bend), np.sin(bend)]) * rng.uniform(12, 34)
        p2 = p0 + out + rng.normal(0, 3, 2)
        p1 = p0 + out * 0.5 + np.array([out[1], -out[0]]) * rng.uniform(-0.35, 0.35)
        cv.stroke(_curve(p0, p1, p2), dark if rng.random() < 0.5 else colour, rng.uniform(0.3, 0.8))
    lowest = 200 if long_hair else 130
    for side in (-1, 1):  # loose strands falling beside the face or down the back
        for _ in range(int(rng.integers(6, 11))):
            p0 = np.array([100 + side * rng.uniform(56, 64), rng.uniform(100, lowest)])
            p2 = p0 + np.array([side * rng.uniform(4, 16), rng.uniform(20, 50)])
            p1 = (p0 + p2) / 2 + np.array([side * rng.uniform(2, 8), 0])
            cv.stroke(_curve(p0, p1, p2), dark, rng.uniform(0.35, 0.8))
    # The ahoge: one strand standing up from the crown.
    p0 = np.array([100 + rng.uniform(-10, 10), 40])
    p2 = p0 + np.array([rng.uniform(-18, 18), -rng.uniform(18, 30)])
    cv.stroke(_curve(p0, p0 + np.array([rng.uniform(-14, 14), -12]), p2), colour, 1.2)


def _spiky(cx: float, cy: float, radii: tuple[float, float], n: int, amp: float,
           rng: np.random.Generator, a0: float, a1: float) -> list[tuple[float, float]]:
    pts = []
    for i, t in enumerate(np.linspace(a0, a1, 2 * n + 1)):
        k = 1.0 + (amp * rng.uniform(0.6, 1.2) if i % 2 else 0.0)
        pts.append((cx + radii[0] * k * np.cos(t), cy + radii[1] * k * np.sin(t)))
    return pts


def draw_character(seed: int, height_px: int, name: str, palette: int | None = None) -> Sprite:
    """Paint a procedural cel-shaded character ``height_px`` tall; ``palette`` picks the hair colour."""
    rng = np.random.default_rng(seed)
    ss = 4 if height_px <= 600 else 3
    cv = _Canvas(height_px * ss / DESIGN_H)
    pick = int(rng.integers(len(HAIR_COLOURS)))
    hair = HAIR_COLOURS[(palette if palette is not None else pick) % len(HAIR_COLOURS)]
    eye = EYE_COLOURS[int(rng.integers(len(EYE_COLOURS)))]
    top, bottom = (CLOTH_COLOURS[int(i)] for i in rng.choice(len(CLOTH_COLOURS), 2, replace=False))
    long_hair = bool(rng.random() < 0.5)
    skirt = bool(rng.random() < 0.5)

    # Back hair, behind everything: a spiky crown, sides falling to a zigzag lower edge.
    crown = _spiky(100, 92, (60, 64), 8, 0.12, rng, np.pi * 1.05, np.pi * 1.95)
    lower = 215 if long_hair else 140
    zig = [(x, lower - (14 if i % 2 else 0) * rng.uniform(0.7, 1.3))
           for i, x in enumerate(np.linspace(158, 42, 9))]
    back = [*crown, (160.0, 110.0), *zig, (40.0, 110.0)]
    cv.cel(np.array(back), _shade(hair, 0.8), shadow=6)
    # Legs, shoes, body, arms.
    for x in (84, 116):
        cv.cel(np.array([(x - 9, 300), (x + 9, 300), (x + 7, 378), (x - 7, 378)]), SKIN, shadow=4)
        cv.cel(_ellipse(x + 2, 384, 12, 8), _shade(bottom, 0.5), shadow=3)
    if skirt:
        cv.cel(np.array([(72, 255), (128, 255), (146, 318), (54, 318)]), bottom, shadow=8)
    else:
        cv.cel(np.array([(72, 255), (128, 255), (130, 350), (103, 350), (100, 290), (97, 350),
                         (70, 350)]), bottom, shadow=7)
    cv.cel(np.array([(93, 150), (107, 150), (108, 172), (92, 172)]), SKIN, shadow=4, outline=1.2)
    cv.cel(np.array([(62, 172), (138, 172), (132, 262), (68, 262)]), top, shadow=10, highlight=3)
    cv.cel(np.array([(84, 172), (100, 192), (116, 172)]), _shade(top, 1.5), shadow=3, outline=1.0)
    for side in (-1, 1):
        sx = 100 + side * 38
        cv.cel(np.array([(sx, 174), (sx + side * 14, 178), (sx + side * 20, 262), (sx + side * 6, 262)]),
               top, shadow=6)
        cv.cel(_ellipse(sx + side * 13, 268, 8, 9), SKIN, shadow=3, outline=1.2)
    # Head: a rounded face tapering to a chin.
    t = np.linspace(-np.pi * 0.1, np.pi * 1.1, 40)
    face = [(100 + 46 * np.cos(a), 96 - 50 * np.sin(a)) for a in t]
    face += [(52, 120), (70, 148), (100, 162), (130, 148), (148, 120)]
    face_m = cv.cel(np.array(face[::-1]), SKIN, shadow=5, outline=1.3)
    # Eyes: big, tall, coloured iris with a darker top, pupil and two white highlights.
    for side in (-1, 1):
        ex = 100 + side * 20
        cv.cel(_ellipse(ex, 114, 12, 15), (255, 255, 255), shadow=0, outline=0.8)
        cv.fill(cv.mask(_ellipse(ex + side * 1, 116, 8.5, 13)), eye)
        cv.fill(cv.mask(_ellipse(ex + side * 1, 108, 8.5, 6)), _shade(eye, 0.6))
        cv.fill(cv.mask(_ellipse(ex + side * 1, 118, 4, 6)), (25, 20, 35))
        cv.fill(cv.mask(_ellipse(ex - 3, 108, 3.2, 3.6)), (255, 255, 255))
        cv.fill(cv.mask(_ellipse(ex + 3, 123, 1.6, 1.6)), (255, 255, 255))
        cv.stroke([(ex - side * 13, 104), (ex, 98), (ex + side * 14, 102), (ex + side * 16, 108)],
                  (30, 20, 30), 3.0)
        cv.stroke([(ex - side * 9, 86), (ex + side * 9, 84)], _shade(hair, 0.4), 1.5)
        cv.fill(cv.mask(_ellipse(ex + side * 6, 134, 7, 3)), (250, 175, 175))
    cv.stroke([(96, 143), (100, 145), (104, 143)], (120, 50, 50), 1.2)
    # Front hair (bangs): a cap over the skull with spikes falling over the forehead.
    cap = [(100 + 54 * np.cos(a), 94 - 58 * np.sin(a)) for a in np.linspace(-0.15, np.pi + 0.15, 30)]
    tips = []
    for i, x in enumerate(np.linspace(44, 156, 11)):
        tips.append((float(x), float(rng.uniform(96, 112) if i % 2 else rng.uniform(62, 72))))
    bangs = np.array(cap + tips)
    bangs_m = cv.cel(bangs, hair, shadow=7, highlight=3)
    # Hair casts a cel shadow onto the upper face.
    drop = round(6 * cv.s)
    shadow = np.zeros_like(bangs_m)
    shadow[drop:] = bangs_m[:-drop]
    cv.fill(cv2.bitwise_and(cv2.bitwise_and(face_m, shadow), cv2.bitwise_not(bangs_m)), _shade(SKIN, 0.82))
    cv.stroke(bangs, _shade(hair, 0.3), 1.6, closed=True)
    # The "angel ring" highlight across the crown.
    ring = [(100 + 40 * np.cos(a), 70 - 26 * np.sin(a)) for a in np.linspace(0.5, np.pi - 0.5, 12)]
    cv.stroke(ring, _shade(hair, 1.45), 3.0)
    _hair_strands(cv, rng, hair, long_hair)

    alpha = cv.alpha.astype(np.float32) / 255.0
    premult = cv.rgb.astype(np.float32) * alpha[..., None]
    size = (round(DESIGN_W * height_px / DESIGN_H), height_px)
    small_premult = cv2.resize(premult, size, interpolation=cv2.INTER_AREA)
    small_alpha = np.clip(cv2.resize(alpha, size, interpolation=cv2.INTER_AREA), 0, 1)
    return Sprite(name, f"procedural:{seed}", small_premult, small_alpha, True, hair)


def load_character(path: Path, height_px: int) -> Sprite:
    """Load an RGBA PNG (exact alpha), crop it to its alpha and scale it to ``height_px``."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.ndim != 3 or img.shape[2] != 4:
        raise InputError(f"{path} is not an RGBA image with an alpha channel.")
    rgba = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    a = rgba[..., 3]
    ys, xs = np.nonzero(a)
    if ys.size == 0:
        raise InputError(f"{path} has an empty alpha channel.")
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    # A picture that ends in a wide straight cut is a bust (placed rising from the frame bottom);
    # one that ends in feet is narrow at the bottom and stands on the ground.
    last = a[max(y0, y1 - 3):y1] > 127
    full_body = bool(last.any(axis=0).sum() < 0.25 * (x1 - x0))
    crop = rgba[y0:y1, x0:x1].astype(np.float32)
    alpha = crop[..., 3] / 255.0
    premult = crop[..., :3] * alpha[..., None]
    scale = height_px / crop.shape[0]
    size = (max(1, round(crop.shape[1] * scale)), height_px)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    premult = cv2.resize(premult, size, interpolation=interp)
    alpha = np.clip(cv2.resize(alpha, size, interpolation=interp), 0, 1)
    top = crop[: max(1, crop.shape[0] // 4)]
    w = top[..., 3:4] / 255.0
    colour = tuple(int(v) for v in (top[..., :3] * w).sum((0, 1)) / max(float(w.sum()), 1e-6))
    return Sprite(path.stem, path.stem, premult.astype(np.float32), alpha.astype(np.float32),
                  full_body, colour)  # type: ignore[arg-type]


def character_files(folder: Path) -> list[Path]:
    """The PNG files of a character folder, sorted so the cast is deterministic."""
    if not folder.is_dir():
        raise InputError(f"The character folder {folder} does not exist.")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
    if not files:
        raise InputError(f"The character folder {folder} holds no PNG files.")
    return files
