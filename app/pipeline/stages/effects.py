"""The effects stage: effects (glows, sparks, streaks, flashes) as a strength map (``effects``) and,
from backends that give one, the light's colour (``effect_colour``): together the RGBA light layer."""

from __future__ import annotations

import numpy as np

from app.pipeline.frames import ShotFrames
from app.pipeline.stages.common import (
    StageContext,
    character_and_text_masks,
    character_mask,
    equal_inputs,
    per_frame,
    repeat_groups,
    sampled_shot,
)
from app.pipeline.stages.shot import FAILED, camera_kwargs, stage_camera
from app.store import Project, Shot


def run_effects(ctx: StageContext, shot: Shot, targets: list[int]) -> None:
    """A backend with ``separate_shot`` (the weight-free one) models the shot's background from a
    bounded sample of its frames through the shot's camera; others see each frame alone."""
    separator = ctx.backend("effects")
    camera = stage_camera(ctx, "effects", shot, targets)
    if camera is FAILED:
        return
    # A drawing that repeats an earlier one with the same character mask shares its effects.
    groups = repeat_groups(ctx, shot, targets, equal_inputs(lambda f: character_mask(ctx.project, f)))
    if not hasattr(separator, "separate_shot"):
        per_frame(
            ctx, "effects", "effects", targets,
            lambda f: {"effects": separator.separate(ctx.project.frame(f), character_mask(ctx.project, f), None)},
            groups=groups,
        )
        return

    def compute(
        indices: list[int], frames: ShotFrames, batch: list[int],
    ) -> list[np.ndarray] | list[dict[str, np.ndarray]]:
        read = [character_and_text_masks(ctx.project, f) for f in indices]
        masks = [characters for characters, _ in read]
        if hasattr(separator, "separate_shot_light"):
            # The colour first: whoever hears that `effects` changed reads both.
            text = [glyphs for _, glyphs in read]
            lights = separator.separate_shot_light(frames, masks, **camera_kwargs(ctx, camera, indices), text=text)
            return [{"effect_colour": light.colour, "effects": light.strength} for light in lights]
        return separator.separate_shot(frames, masks, **camera_kwargs(ctx, camera, indices))

    sampled_shot(ctx, "effects", "effects", "effects", shot, targets, compute, groups)


def read_light(project: Project, frame: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The frame's effect strength (uint8) and light colour (uint8 RGB), or None for what is missing.

    The colour belongs to the strength only when the same backend wrote both: a backend without
    colours (or a user's edit) leaves an older colour layer behind, which is then ignored."""
    layers = project.layers
    strength = layers.read("effects", frame)
    if strength is None:
        return None, None
    colour = layers.read("effect_colour", frame)
    if colour is None or layers.meta("effect_colour", frame).get("backend") != layers.meta("effects", frame).get("backend"):
        return strength, None
    return strength, colour
