"""`MainController`: the interaction state of the app and every action on it, callable headless.

Views are passive: they render what the controller says and forward gestures to its actions. Tests
drive the app through these same actions. Heavy work goes to the `PipelineRunner`; frame decoding and
layer rendering go to the `FrameLoader`'s threads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot

from app.errors import CelstudioError, ProjectDamaged, ProjectLocked, ProjectReadOnly
from app.store import Project
from app.ui.bridge import EventBridge
from app.ui.loader import FrameLoader
from app.ui.render import LAYER_ORDER
from app.ui.runner_link import STAGES, RunnerLike, default_runner_factory, fallback_stage_status
from models.base import Prompt

log = logging.getLogger(__name__)

Tool = Literal["click", "brush", "eraser"]
Compare = Literal["off", "side", "ab"]
RunnerFactory = Callable[[Project], RunnerLike | None]


@dataclass
class LayerState:
    visible: bool
    opacity: float = 1.0


DEFAULT_VISIBLE = {"image", "masks"}


class MainController(QObject):
    """Holds the open project, the runner and the interaction state.

    Signals
    -------
    project_changed()       a project was opened or closed
    frame_changed(int)      the current frame moved
    layers_changed()        visibility, opacity, solo or compare mode changed
    objects_changed()       the object list or the current object changed
    tool_changed(str)
    data_changed(dict)      ``{layer: frames}`` whose stored data changed (coalesced)
    timeline_changed()      stage status, corrections or confidence changed
    jobs_changed()
    status(str)             a one-line message for the status bar
    error(object)           a `CelstudioError` for a dialog
    damaged(object, object) ``(path, ProjectDamaged)``: the window offers recovery
    read_only_offer(object, object) ``(path, ProjectLocked | ProjectReadOnly)``: the window offers
                            to open the project read-only
    """

    project_changed = Signal()
    frame_changed = Signal(int)
    layers_changed = Signal()
    objects_changed = Signal()
    tool_changed = Signal(str)
    data_changed = Signal(object)
    timeline_changed = Signal()
    jobs_changed = Signal()
    status = Signal(str)
    error = Signal(object)
    damaged = Signal(object, object)
    read_only_offer = Signal(object, object)

    def __init__(self, runner_factory: RunnerFactory | None = None) -> None:
        super().__init__()
        self.runner_factory: RunnerFactory = runner_factory or default_runner_factory
        self.project: Project | None = None
        self.runner: RunnerLike | None = None
        self.loader: FrameLoader | None = None
        self.bridge = EventBridge()
        self.frame = 0
        self.object_id: int | None = None
        self.tool: Tool = "click"
        self.brush_radius = 12
        self.layers = {name: LayerState(name in DEFAULT_VISIBLE) for name in LAYER_ORDER}
        self.solo: str | None = None
        self.compare: Compare = "off"
        self.ab_show_clean = False
        self.points: list[tuple[float, float, bool]] = []
        self.box: tuple[float, float, float, float] | None = None
        self.corrected: dict[int, str] = {}
        self.confidence: dict[int, float] = {}
        self.last_job: Any = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._runner_unsubscribe: Callable[[], None] = lambda: None
        self._status_cache: dict[str, np.ndarray] = {}
        self._play = QTimer(self)
        self._play.timeout.connect(self._tick)
        self._status_timer = QTimer(self, singleShot=True, interval=250)
        self._status_timer.timeout.connect(self._refresh_status)
        self._prepare = QTimer(self, singleShot=True, interval=300)
        self._prepare.timeout.connect(self._prepare_frame)
        self.bridge.layers_dirty.connect(self._on_layers_dirty)
        self.bridge.committed.connect(self._on_committed)
        self.bridge.manifest_changed.connect(lambda _what: self._objects_touched())
        self.bridge.runner_event.connect(self._on_runner_event)

    # -- project lifecycle --------------------------------------------------------------------------
    def open_project(self, path: Path, recover: bool = False, read_only: bool = False) -> bool:
        """Open ``path``; on a damaged layer file emit ``damaged`` (the window may retry with recover);
        on a project open in another window or a read-only folder emit ``read_only_offer``."""
        if self.project is not None and self.project.root.resolve() == Path(path).resolve():
            self.close_project()  # reopening the open project (e.g. to recover it) must not lock itself out
        try:
            project = Project.open(Path(path), recover=recover, read_only=read_only)
        except (ProjectLocked, ProjectReadOnly) as exc:
            self.read_only_offer.emit(Path(path), exc)
            return False
        except ProjectDamaged as exc:
            self.damaged.emit(Path(path), exc)
            return False
        except CelstudioError as exc:
            self.error.emit(exc)
            return False
        self.set_project(project)
        if project.repairs:
            self.status.emit("Recovered: " + "; ".join(project.repairs) + ".")
        for notice in project.notices:
            if "damaged" in notice:  # skipped journal records: the user must hear it, not glimpse it
                self.error.emit(CelstudioError(notice))
            elif not notice.endswith("is open read-only."):
                self.status.emit(notice)
        if project.read_only:
            self.status.emit(f"{project.manifest.name} is open read-only: corrections and runs are off.")
        return True

    def set_project(self, project: Project) -> None:
        self.close_project()
        self.project = project
        self.loader = FrameLoader(project)
        self.loader.set_colors(self.object_colors())
        self.loader.confidence.connect(self._on_confidence)
        self.loader.failed.connect(self.status)
        self.loader.status.connect(self._on_status)
        self.loader.error.connect(self.error)
        self._unsubscribe.append(project.events.subscribe(self.bridge.on_store_event))
        try:
            # A read-only project gets no runner: every job it ran would fail to store its result.
            self.runner = None if project.read_only else self.runner_factory(project)
        except CelstudioError as exc:
            self.runner = None
            self.error.emit(exc)
        if self.runner is not None:
            self._runner_unsubscribe = self.runner.subscribe(self.bridge.on_runner_event)
            self._unsubscribe.append(self._runner_unsubscribe)
        self.frame = 0
        self.object_id = project.manifest.objects[0].id if project.manifest.objects else None
        self.corrected = project.corrected_frames()
        self.confidence = {}
        self.loader.request_confidence()
        self._refresh_status()
        self.project_changed.emit()
        self.objects_changed.emit()
        self.frame_changed.emit(0)
        self.status.emit(f"Opened {project.manifest.name}: {project.frame_count} frames, {len(project.shots)} shots.")

    def close_project(self) -> None:
        self._play.stop()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        if self.runner is not None:
            try:
                self.runner.stop()
            except Exception:  # closing must go on even if the runner is wedged
                log.exception("stopping the runner failed")
            self.runner = None
        if self.loader is not None:
            self.loader.close()
            self.loader = None
        if self.project is not None:
            self.project.close()
            self.project = None
            self._status_cache = {}
            self.project_changed.emit()

    def apply_settings(self, values: dict[str, Any]) -> None:
        """Save pipeline settings in the manifest and restart the runner with them."""
        if self.project is None:
            return
        self.project.manifest.settings.update(values)
        self.project.save_manifest()
        if self.runner is not None:
            busy = bool(self.runner.jobs())
            self.runner.stop()  # cancels running jobs; their finished results are already stored
            self._unsubscribe = [u for u in self._unsubscribe if u is not self._runner_unsubscribe]
            self._runner_unsubscribe()
            self.runner = None
            try:
                self.runner = self.runner_factory(self.project)
            except CelstudioError as exc:
                self.error.emit(exc)
            if self.runner is not None:
                self._runner_unsubscribe = self.runner.subscribe(self.bridge.on_runner_event)
                self._unsubscribe.append(self._runner_unsubscribe)
            self.status.emit("Settings saved" + ("; running jobs were stopped." if busy else "."))
        self.jobs_changed.emit()
        self._refresh_status()

    # -- navigation ---------------------------------------------------------------------------------
    @property
    def frame_count(self) -> int:
        return self.project.frame_count if self.project else 0

    def set_frame(self, frame: int) -> None:
        if self.project is None:
            return
        frame = max(0, min(self.frame_count - 1, int(frame)))
        if frame != self.frame:
            self.frame = frame
            self.points, self.box = [], None
            self.frame_changed.emit(frame)
            self._prepare.start()  # once the playhead rests, get the click model ready for this frame

    def _prepare_frame(self) -> None:
        prepare = getattr(self.runner, "submit_prepare", None)
        if prepare is not None and self.project is not None:
            prepare(self.frame)

    def step(self, delta: int) -> None:
        self.set_frame(self.frame + delta)

    def first(self) -> None:
        self.set_frame(0)

    def last(self) -> None:
        self.set_frame(self.frame_count - 1)

    def next_shot(self) -> None:
        if self.project:
            self.set_frame(min(self.project.shot_of(self.frame).end, self.frame_count - 1))

    def prev_shot(self) -> None:
        if self.project:
            shot = self.project.shot_of(self.frame)
            self.set_frame(shot.start if self.frame > shot.start else self.project.shot_of(max(0, shot.start - 1)).start)

    def split_shot(self) -> None:
        """Start a new shot at the current frame (a cut the detector missed)."""
        if self.project is None:
            return
        from app.ingest.shots import split_shot

        shots = split_shot(self.project.shots, self.frame)
        if shots != self.project.shots:
            self.project.set_shots(shots)
            self.timeline_changed.emit()
            self.status.emit(f"Split the shot at frame {self.frame}")

    def merge_shot(self) -> None:
        """Merge the current shot with the next one (a cut that is not one)."""
        if self.project is None:
            return
        from app.ingest.shots import merge_shots

        shots = self.project.shots
        index = shots.index(self.project.shot_of(self.frame))
        if index + 1 < len(shots):
            self.project.set_shots(merge_shots(shots, index))
            self.timeline_changed.emit()
            self.status.emit(f"Merged shots {index + 1} and {index + 2}")

    def toggle_play(self) -> None:
        if self._play.isActive():
            self._play.stop()
            self.status.emit("Paused.")
        elif self.project is not None:
            self._play.start(max(1, int(1000 / max(1.0, self.project.manifest.fps))))

    @property
    def playing(self) -> bool:
        return self._play.isActive()

    def _tick(self) -> None:
        if self.frame >= self.frame_count - 1:
            self._play.stop()
        else:
            self.step(1)

    # -- layers -------------------------------------------------------------------------------------
    def set_layer_visible(self, layer: str, visible: bool) -> None:
        self.layers[layer].visible = visible
        self.layers_changed.emit()

    def toggle_layer(self, layer: str) -> None:
        self.set_layer_visible(layer, not self.layers[layer].visible)

    def set_layer_opacity(self, layer: str, opacity: float) -> None:
        self.layers[layer].opacity = max(0.0, min(1.0, opacity))
        self.layers_changed.emit()

    def set_solo(self, layer: str | None) -> None:
        self.solo = None if layer == self.solo else layer
        self.layers_changed.emit()

    def is_shown(self, layer: str) -> bool:
        if self.solo is not None:
            return layer == self.solo
        if self.compare == "ab" and layer in ("image", "clean"):
            return (layer == "clean") == self.ab_show_clean
        return self.layers[layer].visible

    def shown_layers(self) -> tuple[str, ...]:
        shown = tuple(name for name in LAYER_ORDER if self.is_shown(name))
        return (*shown, "clean") if self.compare == "side" and "clean" not in shown else shown

    def set_compare(self, mode: Compare) -> None:
        self.compare = mode
        self.layers_changed.emit()

    def flip_ab(self) -> None:
        self.ab_show_clean = not self.ab_show_clean
        if self.compare != "ab":
            self.compare = "ab"
        self.layers_changed.emit()

    # -- objects ------------------------------------------------------------------------------------
    def object_colors(self) -> dict[int, tuple[int, int, int]]:
        if self.project is None:
            return {}
        return {o.id: tuple(o.color) for o in self.project.manifest.objects}  # type: ignore[misc]

    def set_object(self, object_id: int | None) -> None:
        self.object_id = object_id
        self.points, self.box = [], None
        self.objects_changed.emit()

    def add_object(self, name: str = "", kind: str = "character") -> int | None:
        if self.project is None:
            return None
        try:
            info = self.project.add_object(name, kind)
        except CelstudioError as exc:
            self.error.emit(exc)
            return None
        self.object_id = info.id
        self._objects_touched()
        return info.id

    def _object_edit(self, edit: Callable[[Project], Any], kind: str = "objects") -> Any:
        """Every object edit is a journalled, undoable store edit (`app.store.objects`), run on the
        pipeline's worker when there is one (it may rewrite many masks), else here."""
        if self.project is None:
            return None
        submit = getattr(self.runner, "submit_object_edit", None)
        if submit is not None:
            return submit(edit, kind)
        try:
            result = edit(self.project)
        except CelstudioError as exc:
            self.error.emit(exc)
            return None
        self._objects_touched()
        return result

    def rename_object(self, object_id: int, name: str) -> Any:
        """Rename (and so confirm) an object; the name holds in every shot where it appears."""
        if not name.strip():
            return None
        return self._object_edit(lambda p: p.objects.rename(object_id, name), "rename")

    def recolor_object(self, object_id: int, color: tuple[int, int, int]) -> Any:
        return self._object_edit(lambda p: p.objects.recolor(object_id, color), "recolor")

    def confirm_object(self, object_id: int, confirmed: bool = True) -> Any:
        return self._object_edit(lambda p: p.objects.confirm(object_id, confirmed), "confirm")

    def merge_objects(self, keep: int, absorb: int) -> Any:
        """``absorb`` becomes ``keep`` everywhere (one undoable edit)."""
        if self.object_id == absorb:
            self.object_id = keep
        return self._object_edit(lambda p: p.objects.merge(keep, absorb), "merge")

    def split_object(self, object_id: int) -> Any:
        """The object's appearance in the current shot becomes a new object."""
        frame = self.frame
        return self._object_edit(lambda p: p.objects.split(object_id, [frame]), "split")

    def reassign_object(self, object_id: int, to: int, *, to_end: bool = False) -> Any:
        """What is ``object_id`` on the current frame becomes ``to`` in this shot (or from here to its end)."""
        frame = self.frame
        return self._object_edit(lambda p: p.objects.reassign(frame, object_id, to, to_end=to_end), "reassign")

    def delete_object(self, object_id: int, *, this_shot: bool = False) -> None:
        """Remove the object from every frame and the list (or only from the current shot), as one
        undoable edit (on the worker)."""
        if self.project is None:
            return
        shot = self.frame if this_shot else None
        delete = getattr(self.runner, "submit_delete_object", None)
        if delete is not None:
            delete(object_id, shot) if this_shot else delete(object_id)
        else:
            self.project.delete_object(object_id, shot=shot)
        if not this_shot:
            remaining = [o for o in self.project.manifest.objects if o.id != object_id]
            if self.object_id == object_id:
                self.object_id = remaining[0].id if remaining else None
        self._objects_touched()

    def _objects_touched(self) -> None:
        if self.loader is not None:
            self.loader.set_colors(self.object_colors())
            self.data_changed.emit({"masks": None})
        self.objects_changed.emit()

    # -- tools and corrections ----------------------------------------------------------------------
    def set_tool(self, tool: Tool) -> None:
        self.tool = tool
        self.tool_changed.emit(tool)

    def _edit_target(self) -> int | None:
        if self.project is None:
            return None
        if self.project.read_only:
            self.status.emit(f"{self.project.manifest.name} is open read-only, so corrections cannot be saved.")
            return None
        if self.runner is None:
            self.status.emit("The pipeline is not available, so corrections cannot run.")
            return None
        if self.object_id is None:
            self.add_object()
        return self.object_id

    def click(self, x: float, y: float, positive: bool = True) -> Any:
        """Add a point to this frame's prompt and refine the current object's mask with it."""
        oid = self._edit_target()
        if oid is None or self.runner is None:
            return None
        self.points.append((float(x), float(y), positive))
        return self._submit_prompt(oid)

    def set_box(self, x0: float, y0: float, x1: float, y1: float) -> Any:
        oid = self._edit_target()
        if oid is None or self.runner is None:
            return None
        self.box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        return self._submit_prompt(oid)

    def _submit_prompt(self, oid: int) -> Any:
        assert self.runner is not None
        prompt = Prompt(points=tuple(self.points), box=self.box)
        self.last_job = self.runner.submit_click(self.frame, oid, prompt)
        self.status.emit(f"Refining {self._object_name(oid)} on frame {self.frame}...")
        return self.last_job

    def resize_brush(self, factor: float) -> None:
        """Grow or shrink the brush (Ctrl+] / Ctrl+[), within 1..200 px."""
        self.brush_radius = int(min(200, max(1, round(self.brush_radius * factor))))
        self.status.emit(f"Brush radius {self.brush_radius} px")

    def brush(self, points: Sequence[tuple[float, float]], radius: float | None = None,
              erase: bool | None = None) -> Any:
        """Paint (or erase, with the eraser tool) a stroke through ``points`` on the current object."""
        oid = self._edit_target()
        if oid is None or self.runner is None or self.project is None or not points:
            return None
        r = round(radius if radius is not None else self.brush_radius)
        canvas = np.zeros((self.project.height, self.project.width), np.uint8)
        pts = np.round(np.asarray(points, np.float64)).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [pts], False, 1, thickness=max(1, 2 * r), lineType=cv2.LINE_8)
        for x, y in pts.reshape(-1, 2):
            cv2.circle(canvas, (int(x), int(y)), r, 1, -1)
        erase = self.tool == "eraser" if erase is None else erase
        self.last_job = self.runner.submit_brush(self.frame, oid, canvas.astype(bool), erase)
        self.status.emit(f"{'Erased from' if erase else 'Painted'} {self._object_name(oid)} on frame {self.frame}.")
        return self.last_job

    def _object_name(self, oid: int) -> str:
        info = self.project.object(oid) if self.project else None
        return info.name if info else f"object {oid}"

    def propagate(self, direction: Literal["forward", "backward", "both"] = "both") -> Any:
        if self.project is None or self.runner is None:
            self.status.emit("The pipeline is not available.")
            return None
        self.last_job = self.runner.submit_propagate(self.frame, direction)
        self.status.emit(f"Propagating {direction} from frame {self.frame} within the shot...")
        return self.last_job

    def run_all(self) -> Any:
        if self.project is None or self.runner is None:
            self.status.emit("The pipeline is not available.")
            return None
        self.last_job = self.runner.submit_run()
        self.status.emit("Running the pipeline on every shot...")
        return self.last_job

    def cancel(self, job_id: Any = None) -> None:
        """Cancel one job, or every running and queued job."""
        if self.runner is None:
            return
        ids = [job_id] if job_id is not None else [
            j.job_id for j in self.runner.jobs() if j.state in ("running", "queued")]
        for jid in ids:
            self.runner.cancel(jid)
        self.jobs_changed.emit()

    def undo(self) -> None:
        self._history("undo")

    def redo(self) -> None:
        self._history("redo")

    def _history(self, which: Literal["undo", "redo"]) -> None:
        if self.project is None:
            return
        try:
            target: Any = self.runner if self.runner is not None else self.project
            result = getattr(target, which)()
        except CelstudioError as exc:
            self.error.emit(exc)
            return
        self.status.emit(f"Nothing to {which}." if result is None and self.runner is None else f"{which.title()} done.")

    # -- events -------------------------------------------------------------------------------------
    @Slot(object)
    def _on_layers_dirty(self, dirty: dict[str, set[int]]) -> None:
        if self.loader is None:
            return
        for layer, frames in dirty.items():
            self.loader.invalidate(layer, tuple(frames))
            if layer == "confidence":
                self.loader.request_confidence(sorted(frames))
        self.data_changed.emit({k: tuple(v) for k, v in dirty.items()})
        if not self._status_timer.isActive():
            self._status_timer.start()

    @Slot(object)
    def _on_committed(self, _event: Any) -> None:
        if self.project is not None:
            self.corrected = self.project.corrected_frames()
            self.timeline_changed.emit()

    @Slot(object)
    def _on_confidence(self, values: dict[int, float]) -> None:
        self.confidence.update(values)
        self.timeline_changed.emit()

    @Slot(object)
    def _on_runner_event(self, event: Any) -> None:
        name = type(event).__name__
        if name == "JobProgress":
            eta = f", ETA {event.eta_s:.0f}s" if getattr(event, "eta_s", None) else ""
            self.status.emit(f"{event.kind} {event.stage}: {event.done}/{event.total} ({event.fps:.1f} fps{eta})")
            self.jobs_changed.emit()
        elif name == "JobFinished":
            if event.kind == "prepare" and event.status != "failed":
                return  # background embedding work the user did not ask for: no status noise
            if event.kind in ("delete", "undo", "redo"):
                self._objects_touched()  # the object list may have changed with the masks
            self.status.emit(f"{event.kind} {event.status}" + (f": {event.message}" if event.message else "."))
            if event.status == "failed" and event.message:
                self.error.emit(CelstudioError(event.message))
            self.jobs_changed.emit()
            self._refresh_status()
        elif name == "FrameFailed":
            self.status.emit(f"{event.stage} failed on frame {event.frame}: {event.reason}")

    def _refresh_status(self) -> None:
        """Recompute the timeline's stage strips on the loader's background thread."""
        if self.project is None or self.loader is None:
            return
        runner, project = self.runner, self.project

        def compute() -> dict[str, np.ndarray]:
            if runner is not None:
                return {stage: np.asarray(runner.stage_status(stage), np.uint8) for stage in STAGES}
            return {stage: fallback_stage_status(project, stage) for stage in STAGES}

        self.loader.request_status(compute)

    @Slot(object)
    def _on_status(self, cache: dict[str, np.ndarray]) -> None:
        self._status_cache = cache
        self.timeline_changed.emit()

    def stage_status(self) -> dict[str, np.ndarray]:
        return self._status_cache
