"""The effects stage: soft maps of effects (glows, sparks, streaks, flashes)."""

from __future__ import annotations

import numpy as np

from app.pipeline.frames import ShotFrames
from app.pipeline.stages.common import (
    StageContext,
    character_mask,
    equal_inputs,
    per_frame,
    repeat_groups,
    sampled_shot,
)
from app.pipeline.stages.shot import camera_for, camera_kwargs, fail_all
from app.store import Shot


def run_effects(ctx: StageContext, shot: Shot, targets: list[int]) -> None:
    """A backend with ``separate_shot`` (the weight-free one) models the shot's background from a
    bounded sample of its frames through the shot's camera; others see each frame alone."""
    separator = ctx.backend("effects")
    try:
        # Before any inputs are taken: they name the camera's digest (`graph.stage_inputs`).
        camera = camera_for(ctx, "effects", "effects", shot)
    except Exception as exc:
        fail_all(ctx, "effects", "effects", targets, exc)
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

    def compute(indices: list[int], frames: ShotFrames) -> list[np.ndarray]:
        masks = [character_mask(ctx.project, f) for f in indices]
        return separator.separate_shot(frames, masks, **camera_kwargs(ctx, camera, indices))

    sampled_shot(ctx, "effects", "effects", "effects", shot, targets, compute, groups)
