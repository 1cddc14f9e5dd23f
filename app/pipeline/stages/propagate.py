"""The propagate stage: temporally consistent final ``masks`` from the segment stage's labels."""

from __future__ import annotations

import numpy as np

from app.pipeline.graph import current_inputs, keyframes, user_owned
from app.pipeline.stages.common import NOT_CHARACTER, StageContext
from app.pipeline.stages.segment import ensure_registered
from app.store import Project, Shot
from models.classical.enclosure import fill_enclosed
from models.classical.segmentation import ClassicalSegmenter
from models.classical.tracks import label_ids


def run_propagate(ctx: StageContext, shot: Shot, targets: list[int]) -> None:
    """Final masks in a batch run, for frames the user does not own.

    The propagator carries the segment stage's labels of keyframes (every `KEYFRAME_EVERY` frames)
    both ways through the frames between them. Where that agrees with a frame's own segment labels
    the confidence is high; where it disagrees the mask flickers and the confidence map says so (the
    timeline flags such frames). With ``settings.propagate_override`` set, a propagation at least that
    confident replaces the frame's own labels; it is off by default because on generated anime shots
    the weight-free propagator lowered the segment IoU (0.782 -> 0.773 at 0.85, 0.772 at 0.6, seed
    202). Propagation from the user's corrections is the interactive job (`interactive.propagate_from`).
    """
    override = ctx.option("propagate_override")
    name = ctx.backend_name("propagator")
    keys = ctx.project.drawing_keys
    segments: dict[tuple[int, int], list[int]] = {}
    for frame in targets:
        segments.setdefault(keyframes(shot, frame), []).append(frame)
    for (k0, k1), frames in segments.items():
        inputs = {f: current_inputs(ctx.project, "propagate", f, name) for f in frames}
        try:
            # Drawing to drawing: a held frame is its drawing's picture again, a step with nothing to carry.
            drawings = sorted({int(keys[f]) for f in range(k0, k1 + 1)})
            # A held frame's labels are its drawing's: each drawing's are read (and checked) once.
            read = {d: ctx.project.layers.read("segmentation", d) for d in drawings}
            missing = [f for f in range(k0, k1 + 1) if read[int(keys[f])] is None]
            if missing:
                raise RuntimeError(f"the segment stage has no result for frame {missing[0]}")
            drawn = {d: lab for d, lab in read.items() if lab is not None}
            labels = {f: drawn[int(keys[f])] for f in range(k0, k1 + 1)}
            ensure_registered(ctx, shot, drawn)
            # The weight-free segmenter judged its own holes against the shot's plate, which knows
            # background seen through a character better than the picture alone.
            judged = isinstance(ctx.backend("segmenter"), ClassicalSegmenter)
            step_of = {d: i for i, d in enumerate(drawings)}
            span = ctx.frames(drawings)
            try:
                seeds = {0: labels[k0], len(drawings) - 1: labels[k1]}
                carried = ctx.backend("propagator").propagate(span, seeds, "both") if len(drawings) > 1 else []
            finally:
                span.close()
        except Exception as exc:
            for frame in frames:
                ctx.failed("propagate", frame, inputs[frame], f"{type(exc).__name__}: {exc}")
                ctx.checkpoint("propagate", frame)
            continue
        for frame in frames:
            written = not user_owned(ctx.project, frame)
            if written:
                own = labels[frame]
                assert own is not None
                if carried:
                    step = carried[step_of[int(keys[frame])]]
                    final, confidence = fuse_labels(
                        own, np.asarray(step.labels, np.uint8), np.asarray(step.confidence, np.float32), override
                    )
                else:
                    final, confidence = own, np.ones(own.shape, np.float32)
                # Fused in per-shot track ids, stored as project object ids.
                final = ctx.project.objects.to_objects(shot.start, frame, final)
                final = fill_character_holes(ctx.project, frame, final, own if judged else None)
                ctx.write("masks", frame, final, {"stage": "propagate", "backend": name})
                ctx.write("confidence", frame, confidence, {"stage": "propagate", "backend": name})
            # ``kept``: the frame was the user's and no map was written, so this record vouches for
            # none an undo may give back to the pipeline later (`Project._unvouch` marks it stale then).
            ctx.done("propagate", frame, inputs[frame], None if written else {"kept": True})
            ctx.checkpoint("propagate", frame)


def fuse_labels(
    own: np.ndarray, carried: np.ndarray, confidence: np.ndarray, override: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The segment stage's labels, corrected where the propagation is at least ``override``
    confident (if set), and how sure the result is."""
    agree = own == carried
    confidence = np.asarray(confidence, np.float32)
    sure = np.where(agree, (np.float32(1.0) + confidence) / np.float32(2.0), np.float32(1.0) - confidence)
    if override is None:
        return np.asarray(own, np.uint8).copy(), sure
    take = ~agree & (confidence >= override)
    return np.where(take, carried, own).astype(np.uint8), np.where(take, confidence, sure).astype(np.float32)


def fill_character_holes(project: Project, frame: int, labels: np.ndarray, judged: np.ndarray | None = None) -> np.ndarray:
    """The final masks with every character's enclosed holes filled (eye whites, teeth, lenses:
    `models.classical.enclosure.fill_enclosed` judges them on the full-resolution frame), never
    over burnt-in text. ``judged``: the segment stage's labels when that segmenter already decided
    its own holes (then only holes the fusion opened are filled). A cut-out is its object's label
    pixels, so a hole here is a hole in every exported image of the character."""
    others = set(project.objects.ids_of_kind(*NOT_CHARACTER))
    chars = set(label_ids(labels)) - others
    if not chars:
        return labels
    text = project.objects.ids_of_kind("text")
    keep_out = np.isin(labels, text) if text else np.zeros(labels.shape, bool)
    if judged is not None:
        if not ((judged != 0) & (labels == 0)).any():
            return labels  # the fusion opened nothing
        keep_out |= judged == 0
    return fill_enclosed(labels, np.asarray(project.frame(frame)), keep_out=keep_out, ids=chars)
