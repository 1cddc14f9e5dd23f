"""What every stage shares: the context a stage sees of the runner, frame-parallel and shot-sampled
drivers, and the masks the downstream stages derive from ``masks``."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal, Protocol, overload

import cv2
import numpy as np

from app.pipeline.frames import ShotFrames
from app.pipeline.graph import current_inputs
from app.store import Project, Shot
from models.base import Annotator, EffectSeparator, Inpainter, Matter, Propagator, Segmenter


class StageContext(Protocol):
    project: Project

    # Each role's backend by its protocol (models/base.py); a backend's optional shot-level methods
    # (the weight-free ones' `matte_shot`, `separate_shot`, `stitch`) are found with `hasattr`.
    @overload
    def backend(self, role: Literal["segmenter"]) -> Segmenter: ...
    @overload
    def backend(self, role: Literal["propagator"]) -> Propagator: ...
    @overload
    def backend(self, role: Literal["matter"]) -> Matter: ...
    @overload
    def backend(self, role: Literal["effects"]) -> EffectSeparator: ...
    @overload
    def backend(self, role: Literal["inpainter"]) -> Inpainter: ...
    @overload
    def backend(self, role: Literal["annotator"]) -> Annotator: ...
    @overload
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


def per_frame(
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


def sampled_shot(
    ctx: StageContext, stage: str, role: str, layer: str, shot: Shot, targets: list[int],
    compute: Callable[[list[int], ShotFrames], Sequence[np.ndarray | dict[str, np.ndarray]]],
) -> None:
    """Run a shot-level backend on batches of up to 16 targets, each with a bounded sample of the
    shot's other frames (`context_frames`); ``compute(indices, frames)`` returns one result per index:
    the array of ``layer``, or arrays by layer name (written in their order, ``layer`` among them)."""
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
            result = results[indices.index(frame)]
            for out_layer, array in (result.items() if isinstance(result, dict) else [(layer, result)]):
                ctx.write(out_layer, frame, array, {"stage": stage, "backend": name})
            ctx.done(stage, frame, inputs[frame])
            ctx.checkpoint(stage, frame)


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


EFFECT_HOLE = 0.25  # effect strength above which the clean plate paints the effect out


def inpaint_hole(project: Project, frame: int, grow: int | None = None) -> np.ndarray:
    """What the clean plate must paint over: the characters and burnt-in text grown over their soft
    fringe (anti-aliased outline, hair strands, glyph outlines) and the effects the effects stage
    found. ``grow=0`` gives what hides the background without the fringe (a stitching source uses
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
