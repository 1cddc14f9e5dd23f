"""The demo generator: deterministic anime-style shots with exact ground truth for every layer.

Each frame is composed as ``image = alpha * foreground + (1 - alpha) * clean + effect_rgb`` (then
rounded to uint8), where ``clean`` is the camera's view of a painted plate, the characters are
composited over each other with their exact alphas, and effects add light. Flash frames are an
effect that covers the whole frame; impact frames restyle the picture to two inks (``kind`` says
so; their layers still describe the scene). Every frame is a pure function of the plan, so frames
can be rendered in any order and the same seed gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from app.demo.backgrounds import PALETTES, Camera, paint_plate, render_view
from app.demo.characters import HAIR_COLOURS, Sprite, character_files, draw_character, load_character
from app.demo.effects import glow, impact_style, sparks, speed_lines
from app.demo.plan import MAX_SCALE, Actor, CastMember, ShotPlan, ease, plan_shot

LABEL_THRESHOLD = 0.5  # a pixel is labelled with the front-most character whose alpha reaches this
NAMES = ["Akari", "Ren", "Hikaru", "Mio", "Sora", "Yui", "Kaito", "Nene"]
BODY_HEIGHT = 0.82  # on-screen height of a full-body character at scale 1, as a fraction of frame height


@dataclass
class GeneratedFrame:
    """One generated frame and its exact ground truth.

    Attributes
    ----------
    image : np.ndarray
        uint8 (H, W, 3) RGB, what a viewer sees.
    labels : np.ndarray
        uint8 (H, W): 0 background, else the id of the front-most character with alpha >= 0.5.
    alpha : np.ndarray
        float32 (H, W) in [0, 1], the union matte of all characters.
    effects : np.ndarray
        float32 (H, W) in [0, 1], the combined effect strength.
    clean : np.ndarray
        uint8 (H, W, 3), the background plate as the camera sees it, without characters or effects.
    foreground : np.ndarray
        uint8 (H, W, 3), the characters' colour (not premultiplied; 0 where alpha is 0).
    effect_rgb : np.ndarray
        uint8 (H, W, 3), the light the effects add.
    index, shot : int
        Frame index and shot index.
    kind : str
        "normal", "flash" or "impact".
    objects : list[int]
        Ids of the characters visible in ``labels``.
    object_alpha : dict[int, np.ndarray]
        Each placed character's own alpha (float32), before occlusion (not saved).
    depth_order : list[int]
        Placed character ids, back to front.
    """

    image: np.ndarray
    labels: np.ndarray
    alpha: np.ndarray
    effects: np.ndarray
    clean: np.ndarray
    foreground: np.ndarray
    effect_rgb: np.ndarray
    index: int = 0
    shot: int = 0
    kind: str = "normal"
    objects: list[int] = field(default_factory=list)
    object_alpha: dict[int, np.ndarray] = field(default_factory=dict)
    depth_order: list[int] = field(default_factory=list)


class GeneratedVideo:
    """A planned demo video; frames are rendered on demand (``frame(i)``, iteration)."""

    def __init__(self, seed: int, width: int, height: int, fps: float, cast: list[CastMember],
                 shots: list[ShotPlan], character_dir: Path | None) -> None:
        self.seed, self.width, self.height, self.fps = seed, width, height, fps
        self.cast, self.shots, self.character_dir = cast, shots, character_dir
        self.frame_count = sum(s.length for s in shots)
        self.shot_starts = [s.start for s in shots]
        self._sprites: dict[int, Sprite] = {}
        self._plate: tuple[int, np.ndarray] | None = None  # one plate cached: memory stays bounded

    def __len__(self) -> int:
        return self.frame_count

    def __iter__(self) -> Iterator[GeneratedFrame]:
        return (self.frame(i) for i in range(self.frame_count))

    def shot_index(self, frame: int) -> int:
        return int(np.searchsorted(self.shot_starts, frame, side="right") - 1)

    def sprite(self, cid: int) -> Sprite:
        if cid not in self._sprites:
            m = next(c for c in self.cast if c.id == cid)
            if m.path:
                self._sprites[cid] = load_character(Path(m.path), round(0.8 * self.height * MAX_SCALE))
            else:
                px = round(BODY_HEIGHT * self.height * MAX_SCALE)
                self._sprites[cid] = draw_character(m.seed, px, m.name, m.palette)
        return self._sprites[cid]

    def plate(self, shot: int) -> np.ndarray:
        if self._plate is None or self._plate[0] != shot:
            self._plate = (shot, paint_plate(self.shots[shot].plate_seed, self.width, self.height, self.shots[shot].palette))
        return self._plate[1]

    def camera(self, index: int) -> Camera:
        """The true camera of frame ``index``."""
        plan = self.shots[self.shot_index(index)]
        return plan.camera_at(index - plan.start)

    def _place(self, actor: Actor, t: float, local: int) -> tuple[np.ndarray, np.ndarray, tuple[slice, slice]]:
        """The actor's alpha and premultiplied colour at shot time ``t``, inside its frame box."""
        sp = self.sprite(actor.id)
        W, H = self.width, self.height
        e = ease(t)
        rel = (actor.s0 + (actor.s1 - actor.s0) * e) / MAX_SCALE
        u = float(np.clip((t - actor.turn_at) / 0.2, 0, 1))
        turn = float(np.cos(np.pi * u))  # a turn squeezes the character through a thin profile
        turn = float(np.copysign(max(abs(turn), 0.15), turn))
        sx, sy = rel * actor.facing * turn, rel
        px = (actor.x0 + (actor.x1 - actor.x0) * e) * W
        bob = actor.bob * H * abs(np.sin(local * 0.9))  # a walking bounce
        py = actor.ground * H - bob if sp.full_body else 1.04 * H - bob
        h, w = sp.alpha.shape
        m = np.array([[sx, 0.0, px - sx * w / 2], [0.0, sy, py - sy * h]])
        # Warp only the box the sprite lands in: most of the frame is empty of any one character.
        xs = sorted((m[0, 2], m[0, 2] + sx * w))
        ys = (m[1, 2], m[1, 2] + sy * h)
        x0, x1 = max(0, int(np.floor(xs[0])) - 2), min(W, int(np.ceil(xs[1])) + 2)
        y0, y1 = max(0, int(np.floor(ys[0])) - 2), min(H, int(np.ceil(ys[1])) + 2)
        box = (slice(y0, max(y0, y1)), slice(x0, max(x0, x1)))
        if x1 <= x0 or y1 <= y0:
            return np.zeros((0, 0), np.float32), np.zeros((0, 0, 3), np.float32), box
        m[0, 2] -= x0
        m[1, 2] -= y0
        out = cv2.warpAffine(sp.rgba, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
        return np.clip(out[..., 3], 0, 1), out[..., :3], box

    def frame(self, index: int) -> GeneratedFrame:
        if not 0 <= index < self.frame_count:
            raise IndexError(f"frame {index} is outside 0..{self.frame_count - 1}")
        s = self.shot_index(index)
        plan = self.shots[s]
        local = index - plan.start
        t = local / max(1, plan.length - 1)
        cam = plan.camera_at(local)
        W, H = self.width, self.height
        clean = render_view(self.plate(s), cam, W, H)
        prem = np.zeros((H, W, 3), np.float32)
        union = np.zeros((H, W), np.float32)
        labels = np.zeros((H, W), np.uint8)
        order = sorted(plan.actors, key=lambda a: (a.s0 + a.s1, a.id))  # nearer (bigger) in front
        obj_alpha: dict[int, np.ndarray] = {}
        for actor in order:
            a, p, box = self._place(actor, t, local)
            full = np.zeros((H, W), np.float32)
            full[box] = a
            obj_alpha[actor.id] = full
            prem[box] = p + (1 - a)[..., None] * prem[box]
            union[box] = a + (1 - a) * union[box]
            labels[box][a >= LABEL_THRESHOLD] = actor.id
        union = np.clip(union, 0, 1)
        safe = np.maximum(union, 1e-6)[..., None]
        fg = np.where(union[..., None] > 0, np.clip(prem / safe + 0.5, 0, 255), 0).astype(np.uint8)
        base = union[..., None] * fg.astype(np.float32) + (1 - union[..., None]) * clean.astype(np.float32)
        add = np.zeros((H, W, 3), np.float32)
        keep = np.ones((H, W), np.float32)  # product of (1 - strength) over effects
        for spec in plan.effects:
            env = spec.envelope(local)
            if env <= 0:
                continue
            if spec.kind == "glow":
                strength = glow(obj_alpha[spec.target], env, local)
            elif spec.kind == "sparks":
                ys, xs = np.nonzero(obj_alpha[spec.target] > 0.5)
                origin = (float(xs.mean()), float(ys.mean())) if xs.size else (W / 2, H / 2)
                strength = sparks(spec, local, W, H, origin, env)
            else:
                strength = speed_lines(spec, local, W, H, env)
            add += strength[..., None] * np.asarray(spec.colour, np.float32)
            keep *= 1 - strength
        kind = "normal"
        for f_local, f in plan.flash:
            if f_local == local:  # a white flash: light that lifts every pixel towards white
                add += f * (255.0 - np.minimum(base + add, 255.0))
                keep *= 1 - f
                kind = "flash"
        effect_rgb = np.clip(add + 0.5, 0, 255).astype(np.uint8)
        image = np.clip(base + effect_rgb.astype(np.float32) + 0.5, 0, 255).astype(np.uint8)
        if local in plan.impact:
            image = impact_style(image, plan.impact_seed + local)
            kind = "impact"
        objects = [int(v) for v in np.flatnonzero(np.bincount(labels.ravel(), minlength=256)[1:]) + 1]
        return GeneratedFrame(image, labels, union.astype(np.float32), np.clip(1 - keep, 0, 1).astype(np.float32),
                              clean, fg, effect_rgb, index, s, kind, objects, obj_alpha, [a.id for a in order])


def generate_shots(seed: int = 0, *, width: int = 640, height: int = 360, shots: int = 4,
                   frames_per_shot: int = 24, character_dir: Path | None = None, fps: float = 24.0,
                   cast_size: int = 3) -> GeneratedVideo:
    """Plan a deterministic demo video of ``shots`` hard-cut shots of ``frames_per_shot`` frames.

    Characters are procedural unless ``character_dir`` (a folder of RGBA PNGs) is given.
    """
    rng = np.random.default_rng(seed)
    cast: list[CastMember] = []
    if character_dir is not None:
        files = character_files(Path(character_dir))
        k = min(cast_size, len(files))
        for i, fi in enumerate(rng.choice(len(files), k, replace=False)):
            f = files[int(fi)]
            cast.append(CastMember(i + 1, f.stem, f.stem, HAIR_COLOURS[i % len(HAIR_COLOURS)], 0, i, str(f)))
    else:
        palettes = rng.choice(len(HAIR_COLOURS), cast_size, replace=False)
        names = rng.choice(len(NAMES), cast_size, replace=False)
        for i in range(cast_size):
            cseed = int(rng.integers(1 << 30))
            cast.append(CastMember(i + 1, NAMES[int(names[i])], f"procedural:{cseed}",
                                   HAIR_COLOURS[int(palettes[i])], cseed, int(palettes[i])))
    plans: list[ShotPlan] = []
    for i in range(shots):
        prev = plans[-1].palette if plans else int(rng.integers(len(PALETTES)))
        plans.append(plan_shot(rng, i, i * frames_per_shot, frames_per_shot, cast, width, height, prev))
    return GeneratedVideo(seed, width, height, fps, cast, plans, character_dir)
