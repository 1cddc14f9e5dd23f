"""A synthetic pan over a painted background, with a character and a glow: frames and their exact
layers, shared by the effects, plate and quality tests."""

from __future__ import annotations

import cv2
import numpy as np

H, W = 96, 160
GLOW = (200, 230, 255)  # the test glow's colour
GLOW_LUMA = float(np.dot(GLOW, [0.299, 0.587, 0.114]))


def painted(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), (110, 140, 120), np.float32)
    for scale, amp in ((32, 70.0), (8, 40.0), (3, 25.0)):
        noise = rng.normal(0, 1, (h // scale + 2, w // scale + 2, 3)).astype(np.float32)
        img += amp * cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(img, 0, 255).astype(np.uint8)


def shot(
    n: int = 12, static: bool = False, seed: int = 0, glow_frames: tuple[int, ...] = (4, 5, 6)
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Frames, character masks, true backgrounds and the glow's added luminance, of a pan."""
    bg = painted(H + 40, W + 60, seed)
    yy, xx = np.mgrid[0:H, 0:W]
    frames, masks, bgs, lights = [], [], [], []
    for i in range(n):
        ox, oy = (0, 0) if static else (3 * i, i)
        view = bg[oy : oy + H, ox : ox + W]
        m = np.zeros((H, W), np.uint8)
        cv2.ellipse(m, (40 + (0 if static else 5 * i), 55), (16, 26), 0, 0, 360, 1, -1)
        img = view.astype(np.float32)
        img[m > 0] = (235, 180, 160)
        light = np.zeros((H, W), np.float32)
        if i in glow_frames:
            g = np.exp(-((xx - 125) ** 2 + (yy - 30) ** 2) / (2 * 9.0**2)).astype(np.float32)
            img += g[..., None] * np.array(GLOW, np.float32)  # a bright effect colour
            light = g * GLOW_LUMA  # added luminance
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
        masks.append(m > 0)
        bgs.append(view.copy())
        lights.append(light)
    return frames, masks, bgs, lights
