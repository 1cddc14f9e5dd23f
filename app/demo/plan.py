"""The plan of a generated video: its cast, and for every shot the actors' motions, the camera's
path, the effects and flashes, all drawn from one random generator (`plan_shot`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.demo.backgrounds import PALETTES, Camera, camera_path
from app.demo.effects import EFFECT_COLOURS, EffectSpec

MAX_SCALE = 1.15


@dataclass(frozen=True)
class CastMember:
    """A character of the video: its object id, name, identity and display colour."""

    id: int
    name: str
    identity: str
    colour: tuple[int, int, int]
    seed: int
    palette: int
    path: str = ""


@dataclass(frozen=True)
class Actor:
    """A character's motion in one shot (positions are fractions of the frame)."""

    id: int
    x0: float
    x1: float
    ground: float
    s0: float
    s1: float
    facing: int
    turn_at: float  # shot time in [0, 1] where a turn starts; > 1: no turn
    bob: float


@dataclass(frozen=True)
class ShotPlan:
    """Everything that decides one shot's frames."""

    start: int
    length: int
    plate_seed: int
    palette: int
    cam0: Camera
    cam1: Camera
    actors: tuple[Actor, ...]
    effects: tuple[EffectSpec, ...]
    flash: tuple[tuple[int, float], ...]  # (local frame, strength)
    impact: tuple[int, ...]
    impact_seed: int

    def camera_at(self, local: int) -> Camera:
        """The true camera of the shot's frame ``local`` (0-based within the shot)."""
        e = ease(local / max(1, self.length - 1))
        c0, c1 = self.cam0, self.cam1
        return Camera(c0.cx + (c1.cx - c0.cx) * e, c0.cy + (c1.cy - c0.cy) * e, c0.zoom + (c1.zoom - c0.zoom) * e)


def ease(t: float) -> float:
    """Smoothstep: how far (0..1) a shot's motions have gone at shot time ``t`` in [0, 1]."""
    return t * t * (3 - 2 * t)


def plan_shot(rng: np.random.Generator, index: int, start: int, n: int, cast: list[CastMember],
               width: int, height: int, previous_palette: int) -> ShotPlan:
    count = 2 if (index == 0 and len(cast) > 1) else int(rng.integers(1, min(3, len(cast)) + 1))
    ids = [cast[int(i)].id for i in rng.choice(len(cast), count, replace=False)]
    actors = []
    for k, cid in enumerate(ids):
        scale = float(rng.uniform(0.75, MAX_SCALE))
        walk = float(rng.uniform(0.006, 0.014)) * max(1, n - 1)  # per-frame walking speed
        if count >= 2:  # characters walk towards each other and cross, occluding each other
            walk = float(np.clip(walk, 0.15, 0.6))
            centre = 0.5 + rng.uniform(-0.1, 0.1)
            a, b = (centre - walk / 2, centre + walk / 2) if k % 2 == 0 else (centre + walk / 2, centre - walk / 2)
            a, b = a + 0.06 * (k - 0.5 * (count - 1)), b + 0.06 * (k - 0.5 * (count - 1))
        else:
            a = float(rng.uniform(0.3, 0.7))
            b = a + min(walk, 0.3) * (1 if rng.random() < 0.5 else -1)
        facing = 1 if b >= a else -1
        turn_at = float(rng.uniform(0.3, 0.6)) if rng.random() < 0.5 else 2.0
        ground = 0.86 + 0.1 * (scale - 0.75) / (MAX_SCALE - 0.75)
        actors.append(Actor(cid, a, b, ground, scale, scale * float(rng.uniform(0.9, 1.1)), facing, turn_at,
                            float(rng.uniform(0.004, 0.012))))
    effects = []
    for _ in range(int(rng.integers(1, 3))):
        kind = str(rng.choice(["glow", "sparks", "speed_lines"]))
        dur = min(n, int(rng.integers(5, 11)))
        effects.append(EffectSpec(kind, int(rng.integers(0, max(1, n - dur + 1))), dur, int(rng.integers(1 << 30)),
                                  EFFECT_COLOURS[int(rng.integers(len(EFFECT_COLOURS)))],
                                  int(rng.choice(ids)), bool(rng.random() < 0.6)))
    cam0, cam1 = camera_path(rng, width, height, n)
    flash: tuple[tuple[int, float], ...] = ()
    impact: tuple[int, ...] = ()
    mid = int(rng.integers(n // 3, max(n // 3 + 1, 2 * n // 3))) if n >= 6 else -1
    if mid > 0 and index % 3 == 1:
        flash = ((mid, 0.95), (mid + 1, 0.5))
    elif mid > 0 and index % 3 == 2:
        impact = (mid,)
    # A new time of day at every cut, so that consecutive shots never look alike.
    palette = int((previous_palette + 1 + rng.integers(len(PALETTES) - 1)) % len(PALETTES))
    return ShotPlan(start, n, int(rng.integers(1 << 30)), palette, cam0, cam1, tuple(actors), tuple(effects), flash,
                    impact, int(rng.integers(1 << 30)))
