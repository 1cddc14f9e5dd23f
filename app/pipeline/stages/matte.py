"""The matte stage: soft alpha of the characters."""

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
from app.pipeline.stages.shot import FAILED, camera_kwargs, stage_camera
from app.store import Shot

NOT_MADE = np.zeros((0, 0), np.float32)  # a context frame's entry: no matte was made for it


def run_matte(ctx: StageContext, shot: Shot, targets: list[int]) -> None:
    """A backend with ``matte_shot`` (the weight-free one) solves each matte against the background
    the shot's other frames reveal (a bounded sample of them, stitched through the shot's camera);
    others see frames alone."""
    matter = ctx.backend("matter")
    camera = stage_camera(ctx, "matte", shot, targets)
    if camera is FAILED:
        return
    # A drawing that repeats an earlier one with the same character mask shares its matte.
    groups = repeat_groups(ctx, shot, targets, equal_inputs(lambda f: character_mask(ctx.project, f)))
    if hasattr(matter, "matte_shot"):
        # The backend is told which frames of each batch's sample it must matte (the batch's
        # leads): the rest of the sample (up to 15 frames) only lends background. A lead is never
        # in another batch, so the placeholders below are never written.
        def compute(indices: list[int], frames: ShotFrames, batch: list[int]) -> list[np.ndarray]:
            masks = [character_mask(ctx.project, f) for f in indices]
            leads = set(batch)
            wanted = [k for k, f in enumerate(indices) if f in leads]
            alphas = iter(matter.matte_shot(frames, masks, targets=wanted, **camera_kwargs(ctx, camera, indices)))
            return [next(alphas) if f in leads else NOT_MADE for f in indices]

        sampled_shot(ctx, "matte", "matter", "alpha", shot, targets, compute, groups)
        return

    def compute_frame(frame: int) -> dict[str, np.ndarray]:
        mask = character_mask(ctx.project, frame)
        if not mask.any():
            return {"alpha": np.zeros(mask.shape, np.float32)}
        return {"alpha": matter.matte(ctx.project.frame(frame), mask)}

    per_frame(ctx, "matte", "matter", targets, compute_frame, groups=groups)
