"""One analysis per shot: the camera motion of a shot, computed once and shared by every stage that
models the shot's background (the segmenter's plate, matte, effects and inpaint stitch or median
frames through it).

It runs first, before the segment stage, so it knows nothing of the shot's characters: it keeps out
what moves against a first background model (`segmentation.estimate_shot_camera`, the two-pass
estimate the segmenter made for itself, which the segmenter reads) and strays (flashes), and is
refined to sub-pixel accuracy against the shot's median plate (what matte, effects and inpaint read). It is estimated on the shot's drawings (a held frame is the same
picture, so it has its drawing's camera) and stored as the record ``shot/camera`` at the shot's first
frame. Its inputs are the shot's bounds and its drawings: no result of any stage, so a correction or
a new segment result never moves it. The stages that read it record its digest among their inputs
(`app.pipeline.graph.stage_inputs`), so they go stale exactly when the camera changes, not whenever
it is recomputed.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, Literal

import cv2
import numpy as np

from app.pipeline.graph import CAMERA_RECORD, ROLE_OF_STAGE, current_inputs, uses_camera
from app.pipeline.jobs import Cancelled
from app.pipeline.stages.common import StageContext
from app.store import Project, Shot
from models.base import Image, Mask
from models.classical.camera import estimate_camera, refine_camera
from models.classical.geometry import Matrix
from models.classical.inpaint import stray_frames
from models.classical.segmentation import estimate_shot_camera


def analyse_shot(
    frames: Sequence[Image], times: Sequence[int], tick: Callable[[], None] | None = None,
) -> tuple[list[Matrix], list[Matrix]]:
    """The camera of a shot's drawings (``times``: their frame indices), before anything is known of
    its characters: the segmenter's own two-pass estimate (what moves against a first background
    model kept out; `segmentation.estimate_shot_camera`), and that estimate refined by ECC against
    the shot's median plate, strays (flashes, impact frames) kept out - what the inpainter did for
    itself on each sample.

    The segmenter models its plate through the estimate (measured: its results move with sub-pixel
    camera changes, and the refined camera made them slightly worse, docs/holds.md); the stitching
    stages use the refined one (at a pixel of error a textured plate blurs). ``tick`` is called after
    each frame of each pass (a run's cancel raises from it)."""
    estimate, moved = estimate_shot_camera(frames, times=times, tick=tick)
    h, w = frames[0].shape[:2] if frames else (0, 0)
    # Full resolution: the stray test and the ECC refinement scale the masks with the frames.
    foreground = [np.zeros((h, w), bool)] * len(frames) if moved is None else [
        np.asarray(cv2.resize(m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0) for m in moved]
    return estimate, _refine(frames, estimate, foreground, tick)


def analyse_camera(
    frames: Sequence[Image], times: Sequence[int], foreground: Sequence[Mask] | None = None,
) -> list[Matrix]:
    """The refined camera of `analyse_shot`; with a known ``foreground``, features are matched away
    from it instead."""
    if foreground is None:
        return analyse_shot(frames, times)[1]
    return _refine(frames, estimate_camera(frames, foreground=foreground, times=times), foreground)


def _refine(
    frames: Sequence[Image], ts: list[Matrix], foreground: Sequence[Mask], tick: Callable[[], None] | None = None,
) -> list[Matrix]:
    if len(frames) < 2:
        return ts
    strays = set(stray_frames(frames, ts, foreground)) if len(frames) >= 3 else set()
    # Strays stay out of the plate the others are aligned to (and keep their estimate).
    everything = np.ones(np.asarray(foreground[0]).shape, bool)
    return refine_camera(frames, ts, [everything if i in strays else m for i, m in enumerate(foreground)], tick=tick)


def digest(transforms: Sequence[Matrix]) -> str:
    """A short fingerprint of a camera, to a thousandth of a pixel (finer changes are noise)."""
    flat = np.round(np.asarray(transforms, np.float64), 3) + 0.0  # + 0.0: -0.0 and 0.0 hash alike
    return hashlib.sha1(flat.tobytes()).hexdigest()[:16]


@dataclass(frozen=True)
class ShotCamera:
    """A shot's camera: one transform per drawing (``drawings``: their first frames), refined, and the
    estimate it was refined from (what the segmenter reads); the digest covers both."""

    drawings: list[int]
    transforms: list[Matrix]
    digest: str
    estimate: list[Matrix]

    def for_frames(self, project: Project, frames: Sequence[int], *, estimate: bool = False) -> list[Matrix]:
        """Transforms of ``frames`` (held ones have their drawing's), shifted so that these frames
        land at non-negative plate coordinates - a plate canvas is capped at 4x the frame, so it must
        start at the frames it holds, not at the far end of a long pan."""
        keys = project.drawing_keys
        at = {d: t for d, t in zip(self.drawings, self.estimate if estimate else self.transforms, strict=True)}
        ts = [at[int(keys[f])] for f in frames]
        if not ts:
            return []
        w, h = project.width, project.height
        corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], np.float64).T
        low = np.floor(np.concatenate([(t @ corners)[:2] for t in ts], axis=1).min(axis=1) + 1e-6)
        shift = np.array([[1.0, 0.0, -low[0]], [0.0, 1.0, -low[1]], [0.0, 0.0, 1.0]])
        return [shift @ t for t in ts]


def _inputs(project: Project, shot: Shot) -> dict[str, Any]:
    keys = project.drawing_keys
    drawings = [f for f in range(shot.start, shot.end) if int(keys[f]) == f]
    return {"shot": [shot.start, shot.end], "drawings": drawings}


def stored_camera(project: Project, shot: Shot) -> ShotCamera | None:
    """The shot's stored camera if it was made from the current shot bounds and drawings."""
    record = project.layers.read_record(CAMERA_RECORD, shot.start)
    if record is None or record.get("inputs") != _inputs(project, shot) or "estimate" not in record:
        return None
    transforms = [np.asarray(t, np.float64) for t in record["transforms"]]
    estimate = [np.asarray(t, np.float64) for t in record["estimate"]]
    return ShotCamera(list(record["inputs"]["drawings"]), transforms, str(record["digest"]), estimate)


def shot_camera(ctx: StageContext, shot: Shot) -> ShotCamera:
    """The shot's camera: the stored one while its inputs hold, else the one analysed ahead for it
    (`ShotAnalyses`, when the context has them), else estimated now; stored either way."""
    project = ctx.project
    camera = stored_camera(project, shot)
    if camera is not None:
        return camera
    inputs = _inputs(project, shot)
    ahead: ShotAnalyses | None = getattr(ctx, "shot_analyses", None)  # a runner's context has them
    pending = ahead.take(shot, inputs) if ahead is not None else None
    camera = pending.result() if pending is not None else _analyse(ctx, inputs["drawings"])
    record = {"inputs": inputs, "transforms": [t.tolist() for t in camera.transforms],
              "estimate": [t.tolist() for t in camera.estimate], "digest": camera.digest}
    project.layers.write_record(CAMERA_RECORD, shot.start, record)
    return camera


def _analyse(ctx: StageContext, drawings: list[int]) -> ShotCamera:
    frames = ctx.frames(drawings)
    try:
        # A run cancelled during a long shot's analysis stops here, between two frames.
        estimate, transforms = analyse_shot(frames, drawings, ctx.poll)
    finally:
        frames.close()
    return ShotCamera(drawings, transforms, digest([*transforms, *estimate]), estimate)


class ShotAnalyses:
    """Shot cameras analysed ahead on one background thread, while the stage thread computes the
    shot before: much of an analysis is one thread's work (feature matching along the shot, the
    background model), which would leave the second core idle. `shot_camera` takes a shot's result
    from here (waiting for it if it is still running) and stores it, so what is stored, and when,
    is what estimating it on the stage thread gave; only the thread differs."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: dict[tuple[int, int], tuple[dict[str, Any], Future[ShotCamera]]] = {}
        self._lock = threading.Lock()  # two shots of a stage may run at once (`runner.run_shots`)

    def start(self, ctx: StageContext, stage: str, shot: Shot) -> None:
        """Analyse ``shot``'s camera now, in the background, when ``stage`` will read it and none is
        stored or under way."""
        if not uses_camera(stage, ctx.backend_name(ROLE_OF_STAGE[stage])) or stored_camera(ctx.project, shot) is not None:
            return
        with self._lock:
            if (shot.start, shot.end) in self._pending:
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="shot-analysis")
            inputs = _inputs(ctx.project, shot)
            self._pending[(shot.start, shot.end)] = (inputs, self._pool.submit(_analyse, ctx, inputs["drawings"]))

    def take(self, shot: Shot, inputs: dict[str, Any]) -> Future[ShotCamera] | None:
        """The analysis started for ``shot``, if it was started from these inputs (a shot split or
        a drawing changed since makes it another shot's camera: it is dropped)."""
        with self._lock:
            started = self._pending.pop((shot.start, shot.end), None)
        if started is None:
            return None
        if started[0] != inputs:
            started[1].cancel()
            return None
        return started[1]

    def close(self) -> None:
        """Drop what was not started; wait for the one running (a run cancelled mid-shot)."""
        with self._lock:
            for _, future in self._pending.values():
                future.cancel()
            self._pending.clear()
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


def camera_for(ctx: StageContext, stage: str, role: str, shot: Shot) -> ShotCamera | None:
    """The shot's camera for a stage whose backend reads it; None for one that sees frames alone."""
    return shot_camera(ctx, shot) if uses_camera(stage, ctx.backend_name(role)) else None


def camera_kwargs(
    ctx: StageContext, camera: ShotCamera | None, indices: list[int], *, estimate: bool = False,
) -> dict[str, Any]:
    """``transforms=`` for a shot-level backend call on ``indices`` (nothing without a camera); the
    unrefined estimate with ``estimate`` (the segmenter's)."""
    return {} if camera is None else {"transforms": camera.for_frames(ctx.project, indices, estimate=estimate)}


def fail_all(ctx: StageContext, stage: str, role: str, targets: list[int], exc: Exception) -> None:
    """Every target fails with ``exc`` (the shot's camera could not be estimated)."""
    name = ctx.backend_name(role)
    for frame in targets:
        ctx.failed(stage, frame, current_inputs(ctx.project, stage, frame, name), f"{type(exc).__name__}: {exc}")
        ctx.checkpoint(stage, frame)


class _Failed(Enum):
    FAILED = "failed"


FAILED: Final = _Failed.FAILED


def stage_camera(ctx: StageContext, stage: str, shot: Shot, targets: list[int]) -> ShotCamera | Literal[_Failed.FAILED] | None:
    """The shot's camera for ``stage`` as `camera_for` gives it; FAILED, with every target already
    failed (`fail_all`), when it could not be estimated. Called before the stage takes any inputs:
    they name the camera's digest (`graph.stage_inputs`)."""
    role = ROLE_OF_STAGE[stage]
    try:
        return camera_for(ctx, stage, role, shot)
    except Cancelled:
        raise  # stopped by the user during the analysis: no frame failed
    except Exception as exc:
        fail_all(ctx, stage, role, targets, exc)
        return FAILED
