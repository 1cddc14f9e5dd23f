"""The inpaint stage: clean background plates, and which of their pixels were seen or invented."""

from __future__ import annotations

import numpy as np

from app.pipeline.frames import ShotFrames
from app.pipeline.stages.common import (
    StageContext,
    character_mask,
    effect_hole,
    equal_inputs,
    hiding_labels,
    inpaint_sources,
    repeat_groups,
    sampled_shot,
)
from app.pipeline.stages.shot import FAILED, camera_kwargs, stage_camera
from app.store import Shot
from models.classical.plate_reveal import revealed_under_masks

NOT_KEPT = np.zeros(0, np.uint8)


def run_inpaint(ctx: StageContext, shot: Shot, targets: list[int]) -> None:
    """Plates from the shot's other frames (a bounded sample of them, stitched through the shot's
    camera) plus inpainting. A backend with ``stitch`` also says which plate pixels are observed and
    which invented."""
    inpainter = ctx.backend("inpainter")
    camera = stage_camera(ctx, "inpaint", shot, targets)
    if camera is FAILED:
        return
    project = ctx.project

    def effects(frame: int) -> np.ndarray:
        hole = effect_hole(project, frame)
        return np.zeros(0, bool) if hole is None else hole

    def alpha(frame: int) -> np.ndarray:
        matte = project.layers.read("alpha", frame)
        return NOT_KEPT if matte is None else matte

    # A drawing that repeats an earlier one with the same hole (characters, text, matte, effects)
    # shares its plate. Equal inputs give equal holes, without growing them for the test.
    groups = repeat_groups(ctx, shot, targets, equal_inputs(lambda f: hiding_labels(project, f), alpha, effects))
    # `sampled_shot` hands each batch of leads with context frames of the shot: only the batch's
    # plates are kept, so only theirs are made (the context frames are sources).
    def compute(indices: list[int], frames: ShotFrames, leads: list[int]) -> list[np.ndarray]:
        wanted = set(leads)
        batch = [k for k, f in enumerate(indices) if f in wanted]
        # The hole painted over, what hides the background (a source's) and what of that the matte
        # says is background (a source lends it), from one read of each frame.
        parts = [inpaint_sources(project, f) for f in indices]
        holes, hidden, clear = [p[0] for p in parts], [p[1] for p in parts], [p[2] for p in parts]
        if not hasattr(inpainter, "stitch"):
            return list(inpainter.clean_plates(frames, holes))
        # ... and what of the characters' masks shows the wall in the wall's colours, not the
        # characters' (a mask that lags a character that moved), never an effect; through the camera,
        # also where the frame no longer shows the drawing the other frames' masks hold there.
        camera_args = camera_kwargs(ctx, camera, indices)
        walls = revealed_under_masks(frames, [character_mask(project, f) for f in indices], hidden,
                                     transforms=camera_args.get("transforms"))
        for k, f in enumerate(indices):
            lit = effects(f)
            clear[k] = clear[k] | (walls[k] & ~lit if lit.size else walls[k])
        plates = inpainter.stitch(frames, holes, hidden=hidden, only=batch, clear=clear, **camera_args)
        meta = {"stage": "inpaint", "backend": ctx.backend_name("inpainter")}
        out = [NOT_KEPT] * len(indices)  # context frames' plates are not read
        for k, (plate, confidence) in zip(batch, plates, strict=True):
            for g in groups.get(indices[k], []):
                ctx.write("plate_confidence", g, confidence, meta)
            out[k] = plate
        return out

    sampled_shot(ctx, "inpaint", "inpainter", "clean", shot, targets, compute, groups)
