"""The segment stage: per-shot object labels, and the shot's tracks registered as project objects."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from app.pipeline.graph import current_inputs
from app.pipeline.jobs import Cancelled
from app.pipeline.register import annotator_embedder, register_shot
from app.pipeline.stages.common import StageContext, shot_pictures
from app.pipeline.stages.shot import FAILED, camera_kwargs, fail_all, stage_camera
from app.store import Shot
from models.base import Image, Labels
from models.classical.background_pieces import background_tracks
from models.classical.box_blocks import cut_box_blocks
from models.classical.character_borders import ink_borders, settle_borders
from models.classical.closed_cells import join_closed_cells
from models.classical.geometry import Matrix
from models.classical.outline_reach import reach_outlines
from models.classical.outline_snap import snap_outlines
from models.classical.plate_check import check_shot
from models.classical.tracks import label_ids

# The steps of `refine_labels`, by name (`benchmarks/segment_generated.py` leaves any out to measure it).
REFINEMENTS = ("plate check", "outline snap", "borders", "closed cells", "box blocks", "outline reach", "ink borders")


def refine_labels(frames: Sequence[Image], labels: Sequence[Labels], kinds: Sequence[dict[int, str]],
                  transforms: Sequence[Matrix], skip: Collection[str] = ()) -> list[Labels]:
    """The weight-free segmenter's labels of a shot's drawings, looked at again now that the whole
    shot has labels, in this order (each step but those named in ``skip``, of `REFINEMENTS`):

    - plate check: runs of a character's mask that show the background stitched from outside every
      mask (through the refined camera ``transforms``) are cut (`plate_check`);
    - outline snap: each drawing's own line art - wall runs reached from outside its outline are cut,
      the outline's ring joins the mask (`outline_snap`);
    - borders: the border between two touching characters moves to where their colours part
      (`character_borders`: the segmenter parts them by geometry);
    - closed cells: a part a drawing's mask missed, closed by its line art between the character's
      parts and in the character's colours, joins it (`closed_cells`: a still skirt);
    - box blocks: a block of wall GrabCut's box left in a character's mask, behind a long straight
      side with no line art along it, is cut back to where the character's outline begins (`box_blocks`);
    - outline reach: a mask that stopped on the character's fill one pixel short of a faint outline
      (over a dark wall) takes that outline pixel (`outline_reach`);
    - ink borders: the border between two touching characters moves onto the ink between them, the
      front one's outline (`character_borders.ink_borders`: where both draw in the same colours)."""
    out = list(labels)
    if "plate check" not in skip:
        out = check_shot(frames, out, kinds, transforms)
    if "outline snap" not in skip:
        out = snap_outlines(frames, out, kinds)
    if "borders" not in skip:
        out = settle_borders(frames, out, kinds)
    if "closed cells" not in skip:
        out = join_closed_cells(frames, out, kinds)
    if "box blocks" not in skip:
        out = cut_box_blocks(frames, out, kinds)
    if "outline reach" not in skip:
        out = reach_outlines(frames, out, kinds)
    if "ink borders" not in skip:
        out = ink_borders(frames, out, kinds)
    return out


def run_segment(ctx: StageContext, shot: Shot, targets: list[int]) -> None:
    """The segmenter sees the whole shot, each drawing once (the classical one models its background
    plate from them, through the shot's camera: `stages.shot`, computed here first when missing); a
    drawing that repeats an earlier one (`common.shot_pictures`) takes that drawing's result.

    A held frame is the same picture as its drawing, so it has its drawing's result. Measured on
    onepiece_demo.mp4 (docs/holds.md): the drawings-only segmentation agrees with segmenting every
    frame as closely as segmenting every frame agrees with itself when the held frames' codec noise
    is removed (foreground IoU 0.93 and 0.92 at the drawings of its first shot), at a quarter of the
    time.

    ``segmentation`` keeps the segmenter's per-shot track ids; the shot's tracks are registered as
    project objects here (`register.register_shot`), and the propagate stage writes ``masks``
    through that link.
    """
    name = ctx.backend_name("segmenter")
    keys = ctx.project.drawing_keys
    camera = stage_camera(ctx, "segment", shot, targets)
    if camera is FAILED:
        return
    try:
        pictures = shot_pictures(ctx, shot)
    except Exception as exc:
        fail_all(ctx, "segment", "segmenter", targets, exc)
        return
    indices = [f for f in range(shot.start, shot.end) if int(keys[f]) == f]
    position = {f: i for i, f in enumerate(indices)}
    inputs = {f: current_inputs(ctx.project, "segment", f, name) for f in targets}
    # The weight-free segmenter models its plate through the shot's camera (its unrefined estimate,
    # exactly what it estimated for itself; estimating none now); the frame indices time its drawings.
    # Deep segmenters see frames alone.
    # The weight-free segmenter also calls ``tick`` after each drawing it looks at, so a run cancelled
    # during a long shot stops there, not minutes later once the whole shot is segmented.
    shot_level = {} if camera is None else {
        **camera_kwargs(ctx, camera, indices, estimate=True), "times": indices, "tick": ctx.poll}
    frames = ctx.frames(indices)
    try:
        seen = ctx.backend("segmenter").segment_shot(frames, **shot_level)
        background: set[int] = set()
        if camera is not None:
            # A second look now that the shot has labels (`refine_labels`).
            refined = camera.for_frames(ctx.project, indices)
            drawing_kinds: list[dict[int, str]] = [dict(r.kinds) for r in seen]
            checked = refine_labels(frames, [r.labels for r in seen], drawing_kinds, refined)
            seen = [replace(r, labels=lab) for r, lab in zip(seen, checked, strict=True)]
            # Tracks whose colours the other drawings show as background there are no objects.
            background = background_tracks(frames, checked, drawing_kinds, refined)
        # A drawing that repeats an earlier one of the shot (a mouth flap, a cycle) is that picture
        # again, so it has that drawing's result, as a held frame has its drawing's; the segmenter
        # still sees it (measured: shown each picture once, it found a fraction of the foreground).
        results = [seen[position[pictures.get(f, f)]] for f in indices]
        register_shot(
            ctx.project, shot, [r.labels for r in results], [dict(r.kinds) for r in results], frames,
            identity_embedder(ctx), background=background,
        )
    except Cancelled:
        raise  # stopped by the user: no frame failed, each is left to compute
    except Exception as exc:
        for frame in targets:
            ctx.failed("segment", frame, inputs[frame], f"{type(exc).__name__}: {exc}")
        return
    finally:
        frames.close()
    for frame in targets:
        result = results[position[int(keys[frame])]]
        kinds = {str(k): v for k, v in result.kinds.items()}
        ctx.write("segmentation", frame, result.labels, {"stage": "segment", "backend": name, "kinds": kinds})
        ctx.done("segment", frame, inputs[frame], {"kinds": kinds})
        ctx.checkpoint("segment", frame)


def identity_embedder(ctx: StageContext) -> Any:
    """The deep annotator's crop embeddings (DINOv2/CLIP) join the identity match when that backend is
    selected; the weight-free annotator has none (and costs nothing to load)."""
    return annotator_embedder(ctx.backend("annotator"))


def ensure_registered(ctx: StageContext, shot: Shot, labels: dict[int, np.ndarray]) -> None:
    """Register tracks the segment stage found before registration existed (projects segmented by
    older versions), so that no track reaches ``masks`` unlinked."""
    present = {t for lab in labels.values() for t in label_ids(lab)}
    if all(ctx.project.objects.track(shot.start, t) is not None for t in present):
        return
    keys = ctx.project.drawing_keys
    indices = [f for f in range(shot.start, shot.end) if int(keys[f]) == f]  # as the segmenter saw them
    stored = [ctx.project.layers.read("segmentation", f) for f in indices]
    shot_labels = [s if s is not None else np.zeros((ctx.project.height, ctx.project.width), np.uint8) for s in stored]
    kinds = [
        {int(k): str(v) for k, v in ctx.project.layers.meta("segmentation", f).get("kinds", {}).items()} for f in indices
    ]
    frames = ctx.frames(indices)
    try:
        register_shot(ctx.project, shot, shot_labels, kinds, frames)
    finally:
        frames.close()
