"""The effects stage: soft maps of effects (glows, sparks, streaks, flashes)."""

from __future__ import annotations

import numpy as np

from app.pipeline.frames import ShotFrames
from app.pipeline.stages.common import StageContext, character_mask, per_frame, sampled_shot
from app.pipeline.stages.shot import FAILED, camera_kwargs, stage_camera
from app.store import Shot


def run_effects(ctx: StageContext, shot: Shot, targets: list[int]) -> None:
    """A backend with ``separate_shot`` (the weight-free one) models the shot's background from a
    bounded sample of its frames through the shot's camera; others see each frame alone."""
    separator = ctx.backend("effects")
    camera = stage_camera(ctx, "effects", shot, targets)
    if camera is FAILED:
        return
    if not hasattr(separator, "separate_shot"):
        per_frame(
            ctx, "effects", "effects", targets,
            lambda f: {"effects": separator.separate(ctx.project.frame(f), character_mask(ctx.project, f), None)},
        )
        return

    def compute(indices: list[int], frames: ShotFrames) -> list[np.ndarray]:
        masks = [character_mask(ctx.project, f) for f in indices]
        return separator.separate_shot(frames, masks, **camera_kwargs(ctx, camera, indices))

    sampled_shot(ctx, "effects", "effects", "effects", shot, targets, compute)
