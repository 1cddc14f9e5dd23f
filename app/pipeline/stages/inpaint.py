"""The inpaint stage: clean background plates, and which of their pixels were seen or invented."""

from __future__ import annotations

import numpy as np

from app.pipeline.frames import ShotFrames
from app.pipeline.stages.common import StageContext, equal_inputs, inpaint_hole, repeat_groups, sampled_shot
from app.pipeline.stages.shot import FAILED, camera_kwargs, stage_camera
from app.store import Shot


def run_inpaint(ctx: StageContext, shot: Shot, targets: list[int]) -> None:
    """Plates from the shot's other frames (a bounded sample of them, stitched through the shot's
    camera) plus inpainting. A backend with ``stitch`` also says which plate pixels are observed and
    which invented."""
    inpainter = ctx.backend("inpainter")
    camera = stage_camera(ctx, "inpaint", shot, targets)
    if camera is FAILED:
        return
    # A drawing that repeats an earlier one with the same hole (characters, text, effects) shares its plate.
    groups = repeat_groups(
        ctx, shot, targets, equal_inputs(lambda f: inpaint_hole(ctx.project, f), lambda f: inpaint_hole(ctx.project, f, 0))
    )

    def compute(indices: list[int], frames: ShotFrames) -> list[np.ndarray]:
        holes = [inpaint_hole(ctx.project, f) for f in indices]
        if not hasattr(inpainter, "stitch"):
            return inpainter.clean_plates(frames, holes)
        hidden = [inpaint_hole(ctx.project, f, 0) for f in indices]
        plates = inpainter.stitch(frames, holes, hidden=hidden, **camera_kwargs(ctx, camera, indices))
        meta = {"stage": "inpaint", "backend": ctx.backend_name("inpainter")}
        for f, (_, confidence) in zip(indices, plates, strict=True):
            for g in groups.get(f, []):
                ctx.write("plate_confidence", g, confidence, meta)
        return [plate for plate, _ in plates]

    sampled_shot(ctx, "inpaint", "inpainter", "clean", shot, targets, compute, groups)
