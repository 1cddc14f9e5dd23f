"""The six stages as plain functions over numpy arrays and the project store, one module each, in
pipeline order: `segment`, `propagate`, `matte`, `effects`, `inpaint`, `annotate`; `shot` is the
one analysis per shot (the camera) that matte, effects and inpaint share, `common` what all share.

Each ``run_<stage>(ctx, shot, targets)`` computes the stage for the ``targets`` frames of one shot and
hands every result to ``ctx.write`` / ``ctx.done``; ``ctx.checkpoint`` between frames lets the runner
pause, cancel, and serve an interactive job first. A failure on one frame is recorded for that frame
and the run goes on.
"""

from __future__ import annotations

from collections.abc import Callable

from app.pipeline.stages.annotate import object_quality_records, run_annotate
from app.pipeline.stages.common import (
    EFFECT_HOLE,
    NOT_CHARACTER,
    StageContext,
    character_mask,
    context_frames,
    inpaint_hole,
    jsonable,
    text_mask,
)
from app.pipeline.stages.effects import run_effects
from app.pipeline.stages.inpaint import run_inpaint
from app.pipeline.stages.matte import run_matte
from app.pipeline.stages.propagate import fuse_labels, run_propagate
from app.pipeline.stages.segment import run_segment
from app.pipeline.stages.shot import ShotCamera, analyse_camera, analyse_shot, shot_camera
from app.store import Shot

STAGE_FUNCTIONS: dict[str, Callable[[StageContext, Shot, list[int]], None]] = {
    "segment": run_segment,
    "propagate": run_propagate,
    "matte": run_matte,
    "effects": run_effects,
    "inpaint": run_inpaint,
    "annotate": run_annotate,
}

__all__ = [
    "EFFECT_HOLE", "NOT_CHARACTER", "STAGE_FUNCTIONS", "ShotCamera", "StageContext", "analyse_camera",
    "analyse_shot",
    "character_mask", "context_frames", "fuse_labels", "inpaint_hole", "jsonable", "object_quality_records",
    "run_annotate", "run_effects", "run_inpaint", "run_matte", "run_propagate", "run_segment", "shot_camera",
    "text_mask",
]
