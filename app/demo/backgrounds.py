"""Painted backgrounds for the demo generator, larger than the frame, and the camera over them.

A plate is an anime-style background painting: a sky gradient with flat clouds, far and near hills,
then a row of buildings or trees in flat cel colours with a shadow side, and a soft paper texture.
The camera is a view rectangle over the plate (centre and zoom), so pans and zooms move it in frame.
`anime_plate` cuts a plate from a real anime frame of the shared clips instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# (sky top, sky horizon, far hills, near hills, ground) per time of day.
PALETTES = [
    ((70, 130, 230), (190, 225, 250), (120, 160, 200), (90, 170, 100), (150, 190, 110)),   # day
    ((60, 60, 130), (250, 170, 120), (150, 110, 150), (110, 110, 90), (170, 140, 110)),    # sunset
    ((20, 30, 70), (70, 80, 140), (50, 60, 100), (40, 70, 70), (60, 80, 80)),              # night
    ((110, 170, 240), (230, 240, 250), (170, 190, 210), (120, 180, 140), (200, 200, 170)),  # haze
]

PLATE_MARGIN = (1.5, 1.35)  # plate size relative to the frame (width, height)


@dataclass(frozen=True)
class Camera:
    """A view of the plate: centre (plate pixels) and zoom (1 = the frame's own scale)."""

    cx: float
    cy: float
    zoom: float

    def matrix(self, width: int, height: int) -> np.ndarray:
        """The 2x3 affine that maps plate pixels to frame pixels."""
        z = self.zoom
        return np.array([[z, 0.0, width / 2 - self.cx * z], [0.0, z, height / 2 - self.cy * z]])


def _lerp(a: tuple[int, ...], b: tuple[int, ...], t: np.ndarray) -> np.ndarray:
    return np.asarray(a, np.float32) * (1 - t) + np.asarray(b, np.float32) * t


def _ridge(rng: np.random.Generator, w: int, base: float, amp: float) -> np.ndarray:
    x = np.arange(w, dtype=np.float64)
    y = np.full(w, base)
    for k in range(3):
        y += amp / (k + 1) * np.sin(x / w * np.pi * rng.uniform(1.5, 4.0) * (k + 1) + rng.uniform(0, 6.3))
    return y


def _fill(img: np.ndarray, pts: np.ndarray, colour: tuple[int, ...] | np.ndarray) -> None:
    c = tuple(int(v) for v in np.asarray(colour).reshape(-1)[:3])
    cv2.fillPoly(img, [np.round(pts).astype(np.int32)], c, cv2.LINE_AA)


def _dark(c: tuple[int, ...] | np.ndarray, f: float) -> tuple[int, int, int]:
    a = np.clip(np.asarray(c, np.float32) * f, 0, 255)
    return (int(a[0]), int(a[1]), int(a[2]))


def _clouds(img: np.ndarray, rng: np.random.Generator, horizon: int, night: bool) -> None:
    _h, w = img.shape[:2]
    lit = (70, 80, 120) if night else (255, 255, 255)
    shade = (50, 55, 95) if night else (205, 210, 235)
    for _ in range(int(rng.integers(3, 7))):
        cx, cy = rng.uniform(0, w), rng.uniform(0.08, 0.6) * horizon
        s = rng.uniform(0.03, 0.07) * w
        puffs = [(cx + rng.uniform(-2, 2) * s, cy + rng.uniform(-0.4, 0.3) * s, rng.uniform(0.6, 1.1) * s)
                 for _ in range(int(rng.integers(4, 8)))]
        for x, y, r in puffs:  # flat shadow tone first, lit tone offset up: two-tone cel clouds
            cv2.circle(img, (int(x), int(y)), int(r), shade, -1, cv2.LINE_AA)
        for x, y, r in puffs:
            cv2.circle(img, (int(x), int(y - 0.25 * r)), int(r * 0.85), lit, -1, cv2.LINE_AA)


def _buildings(img: np.ndarray, rng: np.random.Generator, ground: int, night: bool) -> None:
    h, w = img.shape[:2]
    x = -rng.uniform(0, 40)
    while x < w:
        bw = rng.uniform(0.05, 0.11) * w
        bh = rng.uniform(0.15, 0.42) * h
        wall = np.array(rng.choice([[225, 215, 200], [200, 190, 210], [230, 200, 170], [180, 200, 215]]))
        wall = wall * (0.45 if night else 1.0)
        top = ground - bh
        side = bw * 0.18
        _fill(img, np.array([[x, top], [x + bw, top], [x + bw, ground], [x, ground]]), wall)
        _fill(img, np.array([[x + bw, top], [x + bw + side, top + side * 0.5], [x + bw + side, ground],
                             [x + bw, ground]]), _dark(wall, 0.7))
        roof = _dark(rng.choice([[170, 70, 60], [70, 90, 140], [90, 90, 100]]), 0.5 if night else 1.0)
        _fill(img, np.array([[x - 3, top], [x + bw + side + 3, top], [x + bw + side, top - 8],
                             [x, top - 8]]), roof)
        win = (250, 220, 120) if night else _dark(wall, 0.6)
        ww, wh = bw / 7, bh / 12
        for wy in np.arange(top + wh, ground - 2 * wh, 2 * wh):
            for wx in np.arange(x + ww, x + bw - ww, 2 * ww):
                if night and rng.random() < 0.4:
                    continue
                cv2.rectangle(img, (int(wx), int(wy)), (int(wx + ww), int(wy + wh)), win, -1, cv2.LINE_AA)
        cv2.polylines(img, [np.round([[x, ground], [x, top], [x + bw, top], [x + bw, ground]]).astype(np.int32)],
                      False, _dark(wall, 0.35), 1, cv2.LINE_AA)
        x += bw + side + rng.uniform(2, 25)


def _trees(img: np.ndarray, rng: np.random.Generator, ground: int, night: bool) -> None:
    h, w = img.shape[:2]
    f = 0.5 if night else 1.0
    for x in np.sort(rng.uniform(0, w, int(rng.integers(7, 13)))):
        s = rng.uniform(0.05, 0.1) * h
        base_y = ground + rng.uniform(-4, 10)
        trunk = _dark((120, 80, 50), f)
        _fill(img, np.array([[x - s * 0.15, base_y], [x + s * 0.15, base_y], [x + s * 0.1, base_y - 2 * s],
                             [x - s * 0.1, base_y - 2 * s]]), trunk)
        leaf = np.array(rng.choice([[80, 160, 80], [60, 140, 90], [110, 170, 70]])) * f
        blobs = [(x + rng.uniform(-1, 1) * s, base_y - 2.2 * s + rng.uniform(-1, 0.6) * s, rng.uniform(0.6, 1.0) * s)
                 for _ in range(5)]
        for bx, by, r in blobs:
            cv2.circle(img, (int(bx), int(by)), int(r) + 2, _dark(leaf, 0.35), -1, cv2.LINE_AA)
        for bx, by, r in blobs:
            cv2.circle(img, (int(bx), int(by)), int(r), _dark(leaf, 0.75), -1, cv2.LINE_AA)
        for bx, by, r in blobs:
            cv2.circle(img, (int(bx - r * 0.2), int(by - r * 0.2)), int(r * 0.7), _dark(leaf, 1.0), -1, cv2.LINE_AA)


def paint_plate(seed: int, width: int, height: int, palette: int | None = None) -> np.ndarray:
    """Paint a background plate for a ``width`` x ``height`` frame (RGB uint8, larger than it).

    ``palette`` picks the time of day (an index into `PALETTES`); by default the seed picks it.
    """
    rng = np.random.default_rng(seed)
    pw, ph = round(width * PLATE_MARGIN[0]), round(height * PLATE_MARGIN[1])
    pick = int(rng.integers(len(PALETTES)))
    pal_i = pick if palette is None else palette % len(PALETTES)
    sky_top, sky_low, far, near, ground_c = PALETTES[pal_i]
    night = pal_i == 2
    horizon = int(ph * rng.uniform(0.5, 0.6))
    t = np.clip(np.arange(ph, dtype=np.float32) / horizon, 0, 1)[:, None, None]
    img = np.ascontiguousarray(np.broadcast_to(_lerp(sky_top, sky_low, t), (ph, pw, 3)).astype(np.uint8))
    if night:
        for _ in range(120):
            cv2.circle(img, (int(rng.uniform(0, pw)), int(rng.uniform(0, horizon))), 1, (230, 230, 255), -1)
    _clouds(img, rng, horizon, night)
    xs = np.arange(pw, dtype=np.float64)
    for colour, base, amp in ((far, horizon - 0.06 * ph, 0.05 * ph), (near, horizon + 0.02 * ph, 0.035 * ph)):
        ridge = _ridge(rng, pw, base, amp)
        _fill(img, np.concatenate([np.stack([xs, ridge], 1), [[pw, ph], [0, ph]]]), colour)
    ground = int(horizon + 0.12 * ph)
    _fill(img, np.array([[0, ground], [pw, ground], [pw, ph], [0, ph]]), ground_c)
    # A path across the ground in a lighter tone gives the floor some depth.
    _fill(img, np.array([[0, ground + 0.12 * ph], [pw, ground + 0.08 * ph], [pw, ground + 0.2 * ph],
                         [0, ground + 0.26 * ph]]), _dark(ground_c, 1.12))
    if rng.random() < 0.5:
        _buildings(img, rng, ground, night)
    else:
        _trees(img, rng, ground, night)
    # Soft paper/brush texture: low-frequency tint variation plus fine grain, a few levels only.
    low = cv2.resize(rng.normal(0, 1, (ph // 40 + 2, pw // 40 + 2)).astype(np.float32), (pw, ph),
                     interpolation=cv2.INTER_CUBIC)
    grain = cv2.GaussianBlur(rng.normal(0, 1, (ph, pw)).astype(np.float32), (0, 0), 0.8)
    tex = 1.0 + 0.025 * low + 0.012 * grain
    return np.clip(img.astype(np.float32) * tex[..., None] + 0.5, 0, 255).astype(np.uint8)


def render_view(plate: np.ndarray, camera: Camera, width: int, height: int) -> np.ndarray:
    """What the camera sees of the plate, as a ``height`` x ``width`` RGB uint8 frame."""
    return cv2.warpAffine(plate, camera.matrix(width, height), (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


def camera_path(rng: np.random.Generator, width: int, height: int, frames: int) -> tuple[Camera, Camera]:
    """A start and end camera for a shot of ``frames`` frames: a pan, a zoom in or out, or a drift.

    Speeds are per frame (as an animator would time them), so short shots move less, not faster.
    """
    pw, ph = width * PLATE_MARGIN[0], height * PLATE_MARGIN[1]
    steps = max(1, frames - 1)
    kind = rng.choice(["pan", "zoom_in", "zoom_out", "drift"])
    z0 = z1 = 1.0
    dz = min(0.35, rng.uniform(0.004, 0.01) * steps)
    if kind == "zoom_in":
        z1 = 1.0 + dz
    elif kind == "zoom_out":
        z0 = 1.0 + dz
    # Keep the view low on the plate so the ground is under the characters' feet.
    cy0 = ph - height / 2 - rng.uniform(0.0, 0.1) * height

    def clamp(cx: float, cy: float, z: float) -> Camera:
        half_w, half_h = width / (2 * z), height / (2 * z)
        return Camera(float(np.clip(cx, half_w, pw - half_w)), float(np.clip(cy, half_h, ph - half_h)), z)

    speed = rng.uniform(0.003, 0.007) if kind == "pan" else rng.uniform(0.0, 0.002)
    dist = min(speed * width * steps, pw - width) * (1 if rng.random() < 0.5 else -1)
    cx0 = rng.uniform(width / 2, pw - width / 2)
    cx0 = float(np.clip(cx0, width / 2 + max(0.0, -dist), pw - width / 2 - max(0.0, dist)))
    return clamp(cx0, cy0, z0), clamp(cx0 + dist, cy0 - rng.uniform(0, 0.05) * height, z1)


# -- real anime frames as plates -------------------------------------------------------------------
# Painted plates are flat and clean; a matte or a plate that works on them can still fail on real
# anime backgrounds (film grain, gradients, busy line work, burnt-in text). These plates are real
# frames of the shared clips; the camera over them is ours, so every layer's truth stays exact.


def anime_clips(clips_dir: Path) -> list[Path]:
    """The ``.mp4`` clips of ``clips_dir``, sorted (empty when the folder is absent)."""
    d = Path(clips_dir)
    return sorted(d.glob("*.mp4")) if d.is_dir() else []


def read_clip_frame(path: Path, index: int) -> np.ndarray:
    """Frame ``index`` of a clip as RGB uint8; side-by-side comparison clips (three panels, as the
    eisai-anime-interpolator material is) give their left panel, the original frame."""
    import av

    with av.open(str(path)) as container:
        last: np.ndarray | None = None
        for i, frame in enumerate(container.decode(video=0)):
            last = frame.to_ndarray(format="rgb24")
            if i >= index:
                break
    if last is None:
        raise ValueError(f"{path} has no frames")
    h, w = last.shape[:2]
    if w >= 3 * h:
        last = last[:, : w // 3]
    return np.ascontiguousarray(last)


def anime_plate(seed: int, width: int, height: int, clips_dir: Path) -> np.ndarray:
    """A plate for a ``width`` x ``height`` frame (the painted plates' size) cut from a real anime
    frame: the seed picks the clip and the frame, and the frame is scaled to cover the plate and
    centre-cropped (never stretched)."""
    clips = anime_clips(clips_dir)
    if not clips:
        raise FileNotFoundError(f"no .mp4 clips in {clips_dir}")
    rng = np.random.default_rng(seed)
    clip = clips[int(rng.integers(len(clips)))]
    src = read_clip_frame(clip, int(rng.integers(0, 150)))
    pw, ph = round(width * PLATE_MARGIN[0]), round(height * PLATE_MARGIN[1])
    sh, sw = src.shape[:2]
    s = max(pw / sw, ph / sh)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    big = cv2.resize(src, (max(pw, round(sw * s)), max(ph, round(sh * s))), interpolation=interp)
    y0, x0 = (big.shape[0] - ph) // 2, (big.shape[1] - pw) // 2
    return np.ascontiguousarray(big[y0 : y0 + ph, x0 : x0 + pw])
