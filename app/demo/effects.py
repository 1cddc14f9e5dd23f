"""Effect layers for the demo generator: glows/auras, sparks and speed lines, plus impact frames.

Every effect is a strength map in [0, 1] and a colour; the generator adds ``strength * colour`` to
the picture (additive light, as compositors do for glows), so the effect mask of the ground truth is
exactly the strength. Effects are short-lived: a fade in, a hold and a fade out over a few frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

EFFECT_KINDS = ("glow", "sparks", "speed_lines")
EFFECT_COLOURS = [(90, 200, 255), (255, 200, 80), (255, 110, 200), (150, 255, 150), (255, 255, 255)]


@dataclass(frozen=True)
class EffectSpec:
    """One effect in a shot: ``kind`` from ``EFFECT_KINDS``, active ``[start, start + duration)``.

    ``target`` is the character id a glow surrounds or sparks burst from (0: none).
    """

    kind: str
    start: int
    duration: int
    seed: int
    colour: tuple[int, int, int]
    target: int = 0
    radial: bool = True

    def envelope(self, local: int) -> float:
        """The effect's intensity at local frame ``local`` (0 outside its life)."""
        age = local - self.start
        if age < 0 or age >= self.duration:
            return 0.0
        ramp = max(2, self.duration // 3)  # fades over a few frames: light does not pop on and off
        return float(min(1.0, (age + 1) / (ramp + 1), (self.duration - age) / (ramp + 1)))


def _aa_canvas(height: int, width: int) -> np.ndarray:
    return np.zeros((height, width), np.uint8)


def glow(alpha: np.ndarray, env: float, local: int) -> np.ndarray:
    """An aura hugging a character's silhouette, faint over the character itself."""
    h, w = alpha.shape
    sigma = max(2.0, 0.03 * min(h, w))
    # A wide blur is done at reduced size: the halo is smooth, and at 1080p this is ~20x faster.
    k = max(1, int(sigma // 3))
    small = cv2.resize(alpha, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA)
    halo = cv2.resize(cv2.GaussianBlur(small, (0, 0), sigma / k), (w, h), interpolation=cv2.INTER_LINEAR)
    flicker = 0.85 + 0.15 * np.sin(local * 1.7)
    s = np.clip(1.5 * halo, 0, 1) * (1.0 - 0.8 * alpha) * (0.85 * env * flicker)
    return s.astype(np.float32)


def sparks(spec: EffectSpec, local: int, width: int, height: int, origin: tuple[float, float],
           env: float) -> np.ndarray:
    """Particles bursting from ``origin`` with short motion trails, falling under gravity."""
    rng = np.random.default_rng(spec.seed)
    n = 28
    ang = rng.uniform(0, 2 * np.pi, n)
    speed = rng.uniform(0.008, 0.03, n) * width
    vel = np.stack([np.cos(ang), np.sin(ang)], 1) * speed[:, None]
    gravity = 0.0015 * height
    age = float(local - spec.start)
    canvas = _aa_canvas(height, width)
    thick = max(1, round(height / 240))
    o = np.asarray(origin, np.float64)
    for v in vel:
        def at(t: float, v: np.ndarray = v) -> np.ndarray:
            return o + v * t + np.array([0.0, 0.5 * gravity * t * t])
        p0, p1 = at(max(0.0, age - 0.8)), at(age + 0.2)
        cv2.line(canvas, (int(p0[0] * 16), int(p0[1] * 16)), (int(p1[0] * 16), int(p1[1] * 16)), 255,
                 thick, cv2.LINE_AA, shift=4)
    lines = canvas.astype(np.float32) / 255.0
    halo = cv2.GaussianBlur(lines, (0, 0), 2.0 * thick + 1.0)
    return (np.clip(lines + 1.2 * halo, 0, 1) * env).astype(np.float32)


def speed_lines(spec: EffectSpec, local: int, width: int, height: int, env: float) -> np.ndarray:
    """Focus lines converging on the centre, or horizontal streaks.

    The set of lines is fixed for the effect; it jitters on twos (a new drawing every second frame,
    as limited animation does), so the lines flicker without replacing the whole picture each frame.
    """
    base = np.random.default_rng(spec.seed)
    jit = np.random.default_rng([spec.seed, local // 2])
    canvas = _aa_canvas(height, width)
    cx, cy = width / 2, height / 2
    r_out = 0.75 * np.hypot(width, height)
    if spec.radial:
        n = 60
        angles = base.uniform(0, 2 * np.pi, n) + jit.normal(0, 0.015, n)
        r_in = (base.uniform(0.3, 0.5, n) * min(width, height) + base.uniform(0, 0.25, n) * width) \
            * jit.uniform(0.9, 1.1, n)
        half = base.uniform(0.003, 0.011, n)
        for a, r, h in zip(angles, r_in, half, strict=True):
            pts = np.array([[cx + r_out * np.cos(a - h), cy + r_out * np.sin(a - h)],
                            [cx + r_out * np.cos(a + h), cy + r_out * np.sin(a + h)],
                            [cx + r * np.cos(a), cy + r * np.sin(a)]])
            cv2.fillPoly(canvas, [np.round(pts * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    else:
        n = 28
        ys = base.uniform(0, height, n) + jit.normal(0, 0.01 * height, n)
        x0s = base.uniform(-0.2, 0.8, n) * width + jit.normal(0, 0.04 * width, n)
        lengths = base.uniform(0.15, 0.5, n) * width
        thick = base.uniform(0.5, 2.0, n) * height / 360
        for y, x0, length, t in zip(ys, x0s, lengths, thick, strict=True):
            pts = np.array([[x0, y - t], [x0 + length, y], [x0, y + t]])
            cv2.fillPoly(canvas, [np.round(pts * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    return (canvas.astype(np.float32) / 255.0 * 0.75 * env).astype(np.float32)


def impact_style(image: np.ndarray, seed: int) -> np.ndarray:
    """An anime impact frame: the picture reduced to two inks, with focus lines (RGB uint8)."""
    rng = np.random.default_rng(seed)
    lum = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    thr = float(np.median(lum))
    paper = np.array(rng.choice([[250, 240, 225], [255, 60, 50], [250, 250, 250]]), np.float32)
    ink = np.array([20, 10, 25], np.float32)
    invert = bool(rng.random() < 0.5)  # half of them invert, as impact frames often do
    light = (lum > thr) != invert
    out = np.where(light[..., None], paper, ink)
    h, w = lum.shape
    lines = speed_lines(EffectSpec("speed_lines", 0, 1, int(rng.integers(1 << 30)), (255, 255, 255)), 0, w, h, 1.0)
    out = out * (1 - lines[..., None]) + ink * lines[..., None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
