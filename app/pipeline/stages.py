"""The six stages as plain functions over numpy arrays and the project store.

Each ``run_<stage>(ctx, shot, targets)`` computes the stage for the ``targets`` frames of one shot and
hands every result to ``ctx.write`` / ``ctx.done``; ``ctx.checkpoint`` between frames lets the runner
pause, cancel, and serve an interactive job first. A failure on one frame is recorded for that frame
and the run goes on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

import cv2
import numpy as np

from app.pipeline.frames import ShotFrames
from app.pipeline.graph import current_inputs, keyframes, user_owned
from app.pipeline.register import annotator_embedder, register_shot
from app.store import Project, Shot
from models.base import FrameAnnotation
from models.classical.faces import AnimeFaceDetector
from models.classical.quality import frame_quality


class StageContext(Protocol):
    project: Project

    def backend(self, role: str) -> Any: ...

    def backend_name(self, role: str) -> str: ...

    def workers(self, role: str) -> int: ...

    def option(self, name: str) -> Any: ...

    def frames(self, indices: list[int]) -> ShotFrames: ...

    def write(self, layer: str, frame: int, array: np.ndarray, meta: dict[str, Any] | None = None) -> None: ...

    def done(self, stage: str, frame: int, inputs: dict[str, Any], extra: dict[str, Any] | None = None) -> None: ...

    def failed(self, stage: str, frame: int, inputs: dict[str, Any], reason: str) -> None: ...

    def checkpoint(self, stage: str, frame: int) -> None: ...

    def drain(self) -> None: ...


def _per_frame(
    ctx: StageContext, stage: str, role: str, targets: list[int], compute: Callable[[int], Any],
    store: Callable[[int, Any], None] | None = None,
) -> None:
    """Compute ``targets`` in order; frames run on ``ctx.workers(role)`` threads (OpenCV and numpy
    release the GIL, so weight-free backends keep every core busy), results land in frame order.

    ``compute`` returns layer arrays by name, written as they are, unless ``store`` saves its
    result instead (on the stage's thread, in frame order)."""
    name = ctx.backend_name(role)
    workers = max(1, ctx.workers(role))
    pool = ThreadPoolExecutor(workers, thread_name_prefix=f"stage-{stage}") if workers > 1 else None

    def start(frame: int) -> tuple[int, dict[str, Any], Future[Any]]:
        inputs = current_inputs(ctx.project, stage, frame, name)
        future: Future[Any]
        if pool is not None:
            future = pool.submit(compute, frame)
        else:
            future = Future()
            try:
                future.set_result(compute(frame))
            except Exception as exc:
                future.set_exception(exc)
        return frame, inputs, future

    queue: deque[tuple[int, dict[str, Any], Future[Any]]] = deque()
    todo = iter(targets)
    try:
        while True:
            while len(queue) < workers * 2 and (frame := next(todo, None)) is not None:
                queue.append(start(frame))
            if not queue:
                break
            frame, inputs, future = queue.popleft()
            try:
                outputs = future.result()
            except Exception as exc:
                ctx.failed(stage, frame, inputs, f"{type(exc).__name__}: {exc}")
            else:
                if store is not None:
                    store(frame, outputs)
                else:
                    for layer, array in outputs.items():
                        ctx.write(layer, frame, array, {"stage": stage, "backend": name})
                ctx.done(stage, frame, inputs)
            ctx.checkpoint(stage, frame)
    finally:
        if pool is not None:
            for _, _, future in queue:
                future.cancel()
            pool.shutdown(wait=True)


def run_segment(ctx: StageContext, shot: Shot, targets: list[int]) -> None:
    """Stage 1: the segmenter sees the whole shot (the classical one models its background plate).

    ``segmentation`` keeps the segmenter's per-shot track ids; the shot's tracks are registered as
    project objects here (`register.register_shot`), and stage 3 writes ``masks`` through that link.
    """
    name = ctx.backend_name("segmenter")
    indices = list(range(shot.start, shot.end))
    inputs = {f: current_inputs(ctx.project, "segment", f, name) for f in targets}
    frames = ctx.frames(indices)
    try:
        results = ctx.backend("segmenter").segment_shot(frames)
        register_shot(
            ctx.project, shot, [r.labels for r in results], [dict(r.kinds) for r in results], frames,
            _identity_embedder(ctx),
        )
    except Exception as exc:
        for frame in targets:
            ctx.failed("segment", frame, inputs[frame], f"{type(exc).__name__}: {exc}")
        return
    finally:
        frames.close()
    for frame in targets:
        result = results[frame - shot.start]
        kinds = {str(k): v for k, v in result.kinds.items()}
        ctx.write("segmentation", frame, result.labels, {"stage": "segment", "backend": name, "kinds": kinds})
        ctx.done("segment", frame, inputs[frame], {"kinds": kinds})
        ctx.checkpoint("segment", frame)


def _identity_embedder(ctx: StageContext) -> Any:
    """The deep annotator's crop embeddings (DINOv2/CLIP) join the identity match when that backend is
    selected; the weight-free annotator has none (and costs nothing to load)."""
    return annotator_embedder(ctx.backend("annotator"))


def _ensure_registered(ctx: StageContext, shot: Shot, labels: dict[int, np.ndarray]) -> None:
    """Register tracks stage 1 found before registration existed (projects segmented by older
    versions), so that no track reaches ``masks`` unlinked."""
    present = {int(t) for lab in labels.values() for t in np.unique(lab) if t}
    if all(ctx.project.objects.track(shot.start, t) is not None for t in present):
        return
    indices = list(range(shot.start, shot.end))
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


def run_propagate(ctx: StageContext, shot: Shot, targets: list[int]) -> None:
    """Stage 3 in a batch run: temporally consistent final masks for frames the user does not own.

    The propagator carries the stage-1 labels of keyframes (every `KEYFRAME_EVERY` frames) both ways
    through the frames between them. Where that agrees with a frame's own stage-1 labels the
    confidence is high; where it disagrees the mask flickers and the confidence map says so (the
    timeline flags such frames). With ``settings.propagate_override`` set, a propagation at least that
    confident replaces the frame's own labels; it is off by default because on generated anime shots
    the weight-free propagator lowered stage-1 IoU (0.782 -> 0.773 at 0.85, 0.772 at 0.6, seed 202).
    Propagation from the user's corrections is the interactive job (`interactive.propagate_from`).
    """
    override = ctx.option("propagate_override")
    name = ctx.backend_name("propagator")
    segments: dict[tuple[int, int], list[int]] = {}
    for frame in targets:
        segments.setdefault(keyframes(shot, frame), []).append(frame)
    for (k0, k1), frames in segments.items():
        inputs = {f: current_inputs(ctx.project, "propagate", f, name) for f in frames}
        try:
            labels = {f: ctx.project.layers.read("segmentation", f) for f in range(k0, k1 + 1)}
            missing = [f for f, lab in labels.items() if lab is None]
            if missing:
                raise RuntimeError(f"stage 1 has no result for frame {missing[0]}")
            _ensure_registered(ctx, shot, {f: lab for f, lab in labels.items() if lab is not None})
            span = ctx.frames(list(range(k0, k1 + 1)))
            try:
                seeds = {0: labels[k0], k1 - k0: labels[k1]}
                carried = ctx.backend("propagator").propagate(span, seeds, "both") if k1 > k0 else []
            finally:
                span.close()
        except Exception as exc:
            for frame in frames:
                ctx.failed("propagate", frame, inputs[frame], f"{type(exc).__name__}: {exc}")
                ctx.checkpoint("propagate", frame)
            continue
        for frame in frames:
            if not user_owned(ctx.project, frame):
                own = labels[frame]
                assert own is not None
                if carried:
                    step = carried[frame - k0]
                    final, confidence = fuse_labels(
                        own, np.asarray(step.labels, np.uint8), np.asarray(step.confidence, np.float32), override
                    )
                else:
                    final, confidence = own, np.ones(own.shape, np.float32)
                # Fused in per-shot track ids, stored as project object ids.
                final = ctx.project.objects.to_objects(shot.start, frame, final)
                ctx.write("masks", frame, final, {"stage": "propagate", "backend": name})
                ctx.write("confidence", frame, confidence, {"stage": "propagate", "backend": name})
            ctx.done("propagate", frame, inputs[frame])
            ctx.checkpoint("propagate", frame)


def fuse_labels(
    own: np.ndarray, carried: np.ndarray, confidence: np.ndarray, override: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Stage-1 labels, corrected where the propagation is at least ``override`` confident (if set),
    and how sure the result is."""
    agree = own == carried
    take = ~agree & (confidence >= override) if override is not None else np.zeros_like(agree)
    final = np.where(take, carried, own).astype(np.uint8)
    sure = np.where(agree, (1.0 + confidence) / 2.0, np.where(take, confidence, 1.0 - confidence))
    return final, sure.astype(np.float32)


NOT_CHARACTER = ("effect", "text")  # kinds that are never part of a character's matte or cut-out


def character_mask(project: Project, frame: int) -> np.ndarray:
    labels = project.masks_or_empty(frame)
    others = project.objects.ids_of_kind(*NOT_CHARACTER)
    mask = labels > 0
    if others:
        mask &= ~np.isin(labels, others)
    return mask


def text_mask(project: Project, frame: int) -> np.ndarray:
    """Pixels of burnt-in text objects on ``frame``."""
    text = project.objects.ids_of_kind("text")
    labels = project.masks_or_empty(frame)
    return np.isin(labels, text) if text else np.zeros(labels.shape, bool)


def run_matte(ctx: StageContext, shot: Shot, targets: list[int]) -> None:
    """Stage 2a. A backend with ``matte_shot`` (the weight-free one) solves each matte against the
    background the shot's other frames reveal (a bounded sample of them); others see frames alone."""
    matter = ctx.backend("matter")
    if hasattr(matter, "matte_shot"):
        _sampled_shot(
            ctx, "matte", "matter", "alpha", shot, targets,
            lambda indices, frames: matter.matte_shot(frames, [character_mask(ctx.project, f) for f in indices]),
        )
        return

    def compute(frame: int) -> dict[str, np.ndarray]:
        mask = character_mask(ctx.project, frame)
        if not mask.any():
            return {"alpha": np.zeros(mask.shape, np.float32)}
        return {"alpha": matter.matte(ctx.project.frame(frame), mask)}

    _per_frame(ctx, "matte", "matter", targets, compute)


EFFECT_HOLE = 0.25  # effect strength above which the clean plate paints the effect out


def inpaint_hole(project: Project, frame: int, grow: int | None = None) -> np.ndarray:
    """What the clean plate must paint over: the characters and burnt-in text grown over their soft
    fringe (anti-aliased outline, hair strands, glyph outlines) and the effects found by stage 2b.
    ``grow=0`` gives what hides the background without the fringe (a stitching source uses
    everything else)."""
    mask = character_mask(project, frame) | text_mask(project, frame)
    if grow is None:
        grow = max(2, round(0.006 * max(mask.shape)))
    hole = mask.copy()
    if grow > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        hole = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
    effects = project.layers.read("effects", frame)
    if effects is not None:
        hole |= effects >= round(EFFECT_HOLE * 255)
    return hole


def context_frames(shot: Shot, targets: list[int], limit: int = 16, keys: np.ndarray | None = None) -> list[int]:
    """The targets plus evenly spread frames of the shot that show the background behind them.

    With ``keys`` (the drawing map) only first frames of drawings are candidates: a held frame is
    the same picture as a target or another candidate, so it would crowd the bounded sample without
    showing any more of the background."""
    wanted = set(targets)
    others = [f for f in range(shot.start, shot.end)
              if f not in wanted and (keys is None or int(keys[f]) == f)]
    room = max(0, limit - len(targets))
    if others and room:
        step = max(1, len(others) // room)
        others = others[::step][:room]
    else:
        others = []
    return sorted(wanted | set(others))


def _sampled_shot(
    ctx: StageContext, stage: str, role: str, layer: str, shot: Shot, targets: list[int],
    compute: Callable[[list[int], ShotFrames], list[np.ndarray]],
) -> None:
    """Run a shot-level backend on batches of up to 16 targets, each with a bounded sample of the
    shot's other frames (`context_frames`); ``compute(indices, frames)`` returns one result per index."""
    name = ctx.backend_name(role)
    inputs = {f: current_inputs(ctx.project, stage, f, name) for f in targets}
    for start in range(0, len(targets), 16):
        batch = targets[start : start + 16]
        indices = context_frames(shot, batch, keys=ctx.project.drawing_keys)
        frames = ctx.frames(indices)
        try:
            results = compute(indices, frames)
        except Exception as exc:
            for frame in batch:
                ctx.failed(stage, frame, inputs[frame], f"{type(exc).__name__}: {exc}")
            continue
        finally:
            frames.close()
        for frame in batch:
            ctx.write(layer, frame, results[indices.index(frame)], {"stage": stage, "backend": name})
            ctx.done(stage, frame, inputs[frame])
            ctx.checkpoint(stage, frame)


def run_inpaint(ctx: StageContext, shot: Shot, targets: list[int]) -> None:
    """Stage 2c: plates from the shot's other frames (a bounded sample of them) plus inpainting.
    A backend with ``stitch`` also says which plate pixels are observed and which invented."""
    inpainter = ctx.backend("inpainter")
    wanted = set(targets)

    def compute(indices: list[int], frames: ShotFrames) -> list[np.ndarray]:
        holes = [inpaint_hole(ctx.project, f) for f in indices]
        if not hasattr(inpainter, "stitch"):
            return inpainter.clean_plates(frames, holes)  # type: ignore[no-any-return]
        plates = inpainter.stitch(frames, holes, hidden=[inpaint_hole(ctx.project, f, 0) for f in indices])
        meta = {"stage": "inpaint", "backend": ctx.backend_name("inpainter")}
        for f, (_, confidence) in zip(indices, plates, strict=True):
            if f in wanted:
                ctx.write("plate_confidence", f, confidence, meta)
        return [plate for plate, _ in plates]

    _sampled_shot(ctx, "inpaint", "inpainter", "clean", shot, targets, compute)


def run_effects(ctx: StageContext, shot: Shot, targets: list[int]) -> None:
    """Stage 2b. A backend with ``separate_shot`` (the weight-free one) models the shot's background
    itself from a bounded sample of its frames; others see each frame alone."""
    separator = ctx.backend("effects")
    if not hasattr(separator, "separate_shot"):
        _per_frame(
            ctx, "effects", "effects", targets,
            lambda f: {"effects": separator.separate(ctx.project.frame(f), character_mask(ctx.project, f), None)},
        )
        return
    _sampled_shot(
        ctx, "effects", "effects", "effects", shot, targets,
        lambda indices, frames: separator.separate_shot(frames, [character_mask(ctx.project, f) for f in indices]),
    )


def jsonable(value: Any) -> Any:
    """Arrays and numpy scalars as plain lists and numbers, so records keep every value exactly."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def run_annotate(ctx: StageContext, shot: Shot, targets: list[int]) -> None:
    annotator = ctx.backend("annotator")
    name = ctx.backend_name("annotator")
    kinds = ctx.project.objects.kinds()

    faces = AnimeFaceDetector()

    def compute(frame: int) -> tuple[FrameAnnotation, dict[int, dict[str, Any]]]:
        labels = ctx.project.masks_or_empty(frame)
        image = ctx.project.frame(frame)
        frame_kinds = {int(i): kinds.get(int(i), "character") for i in np.unique(labels) if i}
        result: FrameAnnotation = annotator.annotate(image, labels, frame_kinds)
        return result, object_quality_records(image, labels, frame_kinds, faces.detect(image), result)

    def store(frame: int, outputs: tuple[FrameAnnotation, dict[int, dict[str, Any]]]) -> None:
        result, quality = outputs
        record = {"tags": list(result.tags), "caption": result.caption, "backend": name,
                  **jsonable(dict(result.extra)), "quality": jsonable(quality)}
        ctx.project.layers.write_record("annotations", frame, record)
        if result.embedding is not None:
            ctx.project.layers.write_vector(f"embedding/{name}", frame, result.embedding)

    _per_frame(ctx, "annotate", "annotator", targets, compute, store)


def object_quality_records(
    image: np.ndarray, labels: np.ndarray, kinds: dict[int, str], faces: list[tuple[int, int, int, int]],
    annotation: FrameAnnotation,
) -> dict[int, dict[str, Any]]:
    """The weight-free quality signals of every character and prop; an aesthetic score from the
    annotator (a deep head on CLIP embeddings) replaces the weight-free proxy where it gave one."""
    records = frame_quality(image, labels, kinds, faces)
    deep = annotation.extra.get("objects", {})
    for oid, record in records.items():
        scored = deep.get(oid, {}) if isinstance(deep, dict) else {}
        if isinstance(scored, dict) and "aesthetic" in scored:
            record["aesthetic"] = float(scored["aesthetic"])
            record["aesthetic_source"] = str(scored.get("aesthetic_source", "deep"))
    return records


STAGE_FUNCTIONS: dict[str, Callable[[StageContext, Shot, list[int]], None]] = {
    "segment": run_segment,
    "propagate": run_propagate,
    "matte": run_matte,
    "effects": run_effects,
    "inpaint": run_inpaint,
    "annotate": run_annotate,
}
