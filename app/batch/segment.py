"""The segment stage split in two for a batch: pixels -> per-shot tracks on a worker, registration of
those tracks as project objects in the project's writer, in shot order.

Registration recognises a shot's tracks among the objects of the shots registered before it (a
journalled change of the project's object list), so it must run in shot order in the one writer; the
segmenter itself reads nothing but the shot's frames, so it can run on any worker, in parallel. Both
halves run the pipeline's own `run_segment`, unchanged:

- on the worker, the segmenter is wrapped so that its `segment_shot` result is captured and the stage
  stopped right there (`capture_segments`), before it registers anything;
- in the writer, the runner's segmenter is a `ReplaySegmenter` that hands back the captured result,
  so the stage registers, writes and records exactly what `celstudio run` would.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from app.batch.workspace import ShotPackage, ShotWorkspace
from app.pipeline.graph import CAMERA_RECORD, frames_to_compute
from app.pipeline.runner import PipelineSettings
from app.pipeline.stages import STAGE_FUNCTIONS


@dataclass
class SegmentCapture:
    """What the segmenter returned for one shot on a worker (or the exception it raised)."""

    shot_index: int
    start: int
    backend: str  # the segmenter really used (after a fallback), as the records name it
    results: list[Any] | None = None
    error: BaseException | None = None
    needed: bool = True  # False: the segment stage had nothing to compute on the shot
    seconds: float = 0.0
    notices: list[str] = field(default_factory=list)
    camera: dict[str, Any] | None = None  # the shot's camera record, analysed on the worker before segment

    def store_camera(self, project: Any) -> None:
        """Write the worker's camera record into the project, so the writer's replay of the segment
        stage finds it and analyses nothing itself (one analysis per shot)."""
        if self.camera is not None and project.layers.read_record(CAMERA_RECORD, self.start) != self.camera:
            project.layers.write_record(CAMERA_RECORD, self.start, self.camera)


class _Captured(BaseException):
    """Stops `run_segment` once the segmenter returned: a BaseException, so the stage's own
    ``except Exception`` (which records failed frames) lets it through."""


class _CapturingSegmenter:
    def __init__(self, backend: Any, capture: SegmentCapture) -> None:
        self._backend = backend
        self._capture = capture

    def segment_shot(self, *args: Any, **kwargs: Any) -> Any:
        try:
            self._capture.results = list(self._backend.segment_shot(*args, **kwargs))
        except Exception as exc:  # raised again in the writer, where the stage records it per frame
            self._capture.error = exc
        raise _Captured

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


def capture_segments(package: ShotPackage, cache: Any, *, workers: int = 1) -> SegmentCapture:
    """The segmenter's result for the shot in ``package``, computed as `run_segment` calls it."""
    from app.batch.worker import CollectingContext

    started = time.perf_counter()
    settings = PipelineSettings(backends=dict(package.backends), workers=max(1, workers), **package.options)
    ctx = CollectingContext(ShotWorkspace(package), cache, settings)
    shot = package.shot
    backend = ctx.backend_name("segmenter")
    capture = SegmentCapture(package.shot_index, shot.start, backend, notices=ctx.notices)
    targets = frames_to_compute(ctx.project, "segment", list(range(shot.start, shot.end)), backend)
    if not targets:
        capture.needed = False
        return capture
    real = ctx.backend

    def backend_of(role: str) -> Any:
        found = real(role)
        return _CapturingSegmenter(found, capture) if role == "segmenter" else found

    ctx.backend = backend_of  # type: ignore[method-assign]
    with contextlib.suppress(_Captured):
        STAGE_FUNCTIONS["segment"](ctx, shot, targets)
    if capture.results is None and capture.error is None:
        raise RuntimeError("the segment stage did not call its segmenter; the batch cannot split it")
    capture.camera = ctx.project.layers.read_record(CAMERA_RECORD, shot.start)
    capture.seconds = time.perf_counter() - started
    return capture


class ReplaySegmenter:
    """A segmenter backend that returns what a worker computed for the shot being registered."""

    def __init__(self) -> None:
        self.capture: SegmentCapture | None = None
        self.calls = 0

    def segment_shot(self, frames: Any, *args: Any, **kwargs: Any) -> list[Any]:
        self.calls += 1
        capture = self.capture
        if capture is None or self.calls > 1:
            raise RuntimeError("no segmenter result was sent for this shot")
        if capture.error is not None:
            raise capture.error
        assert capture.results is not None
        return capture.results

    def release(self) -> None:
        """Nothing loaded."""
