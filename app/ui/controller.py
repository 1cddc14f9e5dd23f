"""`MainController`: the interaction state of the app and every action on it, callable headless.

Views are passive: they render what the controller says and forward gestures to its actions. Tests
drive the app through these same actions. Heavy work goes to the `PipelineRunner`; frame decoding and
layer rendering go to the `FrameLoader`'s threads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot

from app.errors import CelstudioError, ProjectDamaged, ProjectLocked, ProjectReadOnly
from app.pipeline.graph import STAGES
from app.store import Project
from app.ui.bridge import EventBridge
from app.ui.jobtext import describe
from app.ui.loader import FrameLoader
from app.ui.render import LAYER_ORDER, palette_color, readable_color
from app.ui.runner_link import RunnerLike, default_runner_factory, saved_stage_status
from models.base import Prompt

log = logging.getLogger(__name__)

Tool = Literal["click", "box", "brush", "eraser"]
Compare = Literal["off", "side", "ab"]
RunnerFactory = Callable[[Project], RunnerLike | None]


@dataclass
class LayerState:
    visible: bool
    opacity: float = 1.0


DEFAULT_VISIBLE = {"image", "masks"}
MIN_BOX = 8  # px a side: a smaller drag with the box tool is a slip (a tablet pen's jitter), not a box


@dataclass
class FinishedJob:
    """A job that ended, kept a few seconds in the Jobs panel so a cancel or failure says so."""

    job_id: int
    kind: str
    status: str
    message: str
    done: int
    total: int
    at: float


FINISHED_SHOWN_S = 8.0
# Status codes of `app.pipeline.graph` (kept here so the UI reads them without importing the pipeline).
MISSING, FRESH, STALE, RUNNING, FAILED = 0, 1, 2, 3, 4
INTERACTIVE_KINDS = {"click", "brush", "propagate", "update", "undo", "redo", "delete"}


class MainController(QObject):
    """Holds the open project, the runner and the interaction state.

    Signals
    -------
    project_changed()       a project was opened or closed
    closing()               the open project is about to close (views save their state)
    frame_changed(int)      the current frame moved
    layers_changed()        visibility, opacity, solo or compare mode changed
    objects_changed()       the object list or the current object changed
    tool_changed(str)
    prompt_changed()        the prompt points or box were added to or cleared
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
    closing = Signal()
    frame_changed = Signal(int)
    layers_changed = Signal()
    objects_changed = Signal()
    tool_changed = Signal(str)
    prompt_changed = Signal()
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
        self._prompt_owner: tuple[int, int | None] = (0, None)
        self.corrected: dict[int, str] = {}
        self.confidence: dict[int, float] = {}
        self.last_job: Any = None
        self.resume_job: Any = None  # the run started by itself (on open, after a cancel)
        self.auto_run = True  # start the pipeline on a project that has never run (Pipeline menu)
        self.job_stage: dict[int, str] = {}
        self.job_counts: dict[int, tuple[int, int]] = {}
        self.finished_jobs: list[FinishedJob] = []
        self.work_left: dict[str, int] = {}
        self._resume_pending = False
        self._cancelled_by_user: set[int] = set()
        self._cancelled_all: set[int] = set()
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
        self.object_id = None  # nothing is edited until the user picks (or clicks) an object
        self.points, self.box = [], None
        self.corrected = project.corrected_frames()
        self.confidence = {}
        self.loader.request_confidence()
        self.job_stage, self.job_counts, self.finished_jobs, self.work_left = {}, {}, [], {}
        self._resume_pending = True  # decided once the stage statuses arrive (background thread)
        self._refresh_status()
        self.project_changed.emit()
        self.objects_changed.emit()
        self.frame_changed.emit(self.frame)  # a restored view state may have moved it already
        self.status.emit(f"Opened {project.manifest.name}: {project.frame_count} frames, {len(project.shots)} shots.")

    def close_project(self) -> None:
        if self.project is not None:
            self.closing.emit()
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
            self.clear_prompt()
            self.frame_changed.emit(frame)
            self._prepare.start()  # once the playhead rests, get the click model ready for this frame

    def _prepare_frame(self) -> None:
        if self.runner is not None and self.project is not None:
            self.runner.submit_prepare(self.frame)

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

    def object_color(self, object_id: int | None) -> tuple[int, int, int] | None:
        """The colour the canvas shows ``object_id`` in (readable on dark frames), None for no object."""
        if object_id is None:
            return None
        return readable_color(self.object_colors().get(object_id, palette_color(object_id)))

    def set_object(self, object_id: int | None) -> None:
        self.object_id = object_id
        self.clear_prompt()
        if self.loader is not None:
            self.loader.set_active(object_id)
            self.data_changed.emit({"masks": None})
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
        if self.runner is not None:
            return self.runner.submit_object_edit(edit, kind)
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
        if self.runner is not None:
            if this_shot:
                self.runner.submit_delete_object(object_id, shot)
            else:
                self.runner.submit_delete_object(object_id)
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

    def clear_prompt(self) -> None:
        """Forget this frame's points and box (they belong to one object on one frame)."""
        if self.points or self.box is not None:
            self.points, self.box = [], None
            self.prompt_changed.emit()

    def dismiss(self) -> None:
        """Esc: drop the prompt if there is one, else the active object. Never touches jobs."""
        if self.points or self.box is not None:
            self.clear_prompt()
            self.status.emit("Prompt cleared.")
        elif self.object_id is not None:
            self.set_object(None)
            self.status.emit("No active object: a click on an object selects it, on background starts a new one.")

    def label_at(self, x: float, y: float) -> int:
        """The object id under scene pixel (x, y) on the current frame (0 for background or outside)."""
        if self.project is None:
            return 0
        xi, yi = int(x), int(y)
        if not (0 <= xi < self.project.width and 0 <= yi < self.project.height):
            return 0
        return int(self.project.masks_or_empty(self.frame)[yi, xi])

    def _edit_target(self, x: float | None = None, y: float | None = None) -> int | None:
        """The object an edit at (x, y) applies to; None when the gesture only selected an object.

        With no active object, a click on an existing object's pixels makes it active (and does not
        edit it: the user sees what is selected before anything changes); on background it starts a
        new object whose id is not already in this frame's labels.
        """
        if self.project is None:
            return None
        if self.project.read_only:
            self.status.emit(f"{self.project.manifest.name} is open read-only, so corrections cannot be saved.")
            return None
        if self.runner is None:
            self.status.emit("The pipeline is not available, so corrections cannot run.")
            return None
        if self.object_id is None:
            under = self.label_at(x, y) if x is not None and y is not None else 0
            if under:
                self._list_object(under)
                self.set_object(under)
                self.status.emit(f"Selected {self._object_name(under)}; click again to edit it, Esc to deselect.")
                return None
            self.object_id = self._new_object()
            self._objects_touched()
        return self.object_id

    def _new_object(self) -> int | None:
        """A new listed object with an id used neither by the list nor by this frame's labels."""
        assert self.project is not None
        present = set(np.unique(self.project.masks_or_empty(self.frame)).tolist())
        used = {o.id for o in self.project.manifest.objects} | present
        free = next((i for i in range(1, 256) if i not in used), None)
        if free is None:
            self.error.emit(CelstudioError("A project can hold at most 255 objects."))
            return None
        self._list_object(free, f"Object {len(self.project.manifest.objects) + 1}")
        return free

    def _list_object(self, object_id: int, name: str = "") -> None:
        """Put an id the pipeline found (or a new one) in the object list, so it can be named and coloured."""
        assert self.project is not None
        if self.project.object(object_id) is not None:
            return
        from app.store.events import ManifestChanged
        from app.store.manifest import ObjectInfo

        info = ObjectInfo(object_id, name or f"Object {object_id}", "character", palette_color(object_id))
        self.project.manifest.objects = sorted([*self.project.manifest.objects, info], key=lambda o: o.id)
        self.project.save_manifest()
        self.project.events.emit(ManifestChanged("objects"))

    def _owns_prompt(self) -> None:
        """Prompts belong to one object on one frame: start afresh when either differs."""
        if self._prompt_owner != (self.frame, self.object_id):
            self.points, self.box = [], None
            self._prompt_owner = (self.frame, self.object_id)

    def click(self, x: float, y: float, positive: bool = True) -> Any:
        """Add a point to this frame's prompt and refine the current object's mask with it."""
        oid = self._edit_target(x, y)
        if oid is None or self.runner is None:
            return None
        self._owns_prompt()
        self.points.append((float(x), float(y), positive))
        self.prompt_changed.emit()
        return self._submit_prompt(oid)

    def set_box(self, x0: float, y0: float, x1: float, y1: float) -> Any:
        """A box prompt (the box tool). Boxes under `MIN_BOX` px a side are taken for a slip, not a box."""
        if abs(x1 - x0) < MIN_BOX or abs(y1 - y0) < MIN_BOX:
            self.status.emit(f"Box too small ({abs(x1 - x0):.0f} x {abs(y1 - y0):.0f} px): drag at least "
                             f"{MIN_BOX} px each way. Nothing was changed.")
            return None
        oid = self._edit_target(min(x0, x1), min(y0, y1))
        if oid is None or self.runner is None:
            return None
        self._owns_prompt()
        self.box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        self.prompt_changed.emit()
        return self._submit_prompt(oid)

    def _submit_prompt(self, oid: int) -> Any:
        assert self.runner is not None
        prompt = Prompt(points=tuple(self.points), box=self.box)
        self.last_job = self.runner.submit_click(self.frame, oid, prompt)
        self.status.emit(f"Refining {self._object_name(oid)} on frame {self.frame + 1}...")
        return self.last_job

    def resize_brush(self, factor: float) -> None:
        """Grow or shrink the brush ([ / ]), within 1..200 px."""
        self.brush_radius = int(min(200, max(1, round(self.brush_radius * factor))))
        self.tool_changed.emit(self.tool)  # the brush cursor follows
        self.status.emit(f"Brush radius {self.brush_radius} px")

    def brush(self, points: Sequence[tuple[float, float]], radius: float | None = None,
              erase: bool | None = None) -> Any:
        """Paint (or erase, with the eraser tool) a stroke through ``points`` on the current object."""
        if self.project is None or not points:
            return None
        oid = self._edit_target(*points[0])
        if oid is None or self.runner is None:
            return None
        from app.pipeline.interactive import rasterise_stroke

        r = round(radius if radius is not None else self.brush_radius)
        stroke = rasterise_stroke(points, r, (self.project.height, self.project.width))
        erase = self.tool == "eraser" if erase is None else erase
        self.last_job = self.runner.submit_brush(self.frame, oid, stroke, erase)
        self.status.emit(f"{'Erased from' if erase else 'Painted'} {self._object_name(oid)} on frame {self.frame + 1}.")
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
        self.jobs_changed.emit()  # the row shows at once, before the first frame is done
        return self.last_job

    def cancel(self, job_id: Any = None) -> int:
        """Cancel one job, or (``None``) every running and queued job; return how many were cancelled.

        Cancelling everything is the explicit "Cancel all jobs" action; Esc never calls it.
        """
        if self.runner is None:
            return 0
        ids = [job_id] if job_id is not None else [
            j.job_id for j in self.runner.jobs() if j.state in ("running", "queued") and j.kind != "prepare"]
        for jid in ids:
            self.runner.cancel(jid)
        self._cancelled_by_user.update(ids)
        if job_id is None:
            self._cancelled_all.update(ids)  # "stop everything": nothing resumes by itself after it
        if ids:
            self.status.emit(f"Cancelling {len(ids)} job{'s' if len(ids) != 1 else ''}; finished frames are kept.")
        self.jobs_changed.emit()
        return len(ids)

    @property
    def paused(self) -> bool:
        return bool(getattr(self.runner, "paused", False))

    def set_paused(self, paused: bool) -> None:
        """Pause or resume the pipeline; while paused, nothing starts or resumes by itself."""
        if self.runner is None:
            return
        if paused:
            self.runner.pause()  # type: ignore[attr-defined]
            self.status.emit("Pipeline paused: running jobs stop at the next frame; nothing resumes by itself.")
        else:
            self.runner.resume()  # type: ignore[attr-defined]
            self.status.emit("Pipeline resumed.")
            self._resume_pending = True
            self._refresh_status()
        self.jobs_changed.emit()

    def _resume_stale(self, codes: dict[str, np.ndarray]) -> None:
        """Start a run for what is stale or missing: always for stale work, for a never-run project
        only with ``auto_run``; never while paused or while a run is already queued."""
        self._resume_pending = False
        if self.runner is None or self.project is None or self.paused or not codes:
            return
        if any(j.kind == "run" for j in self.runner.jobs()):
            return
        stacked = np.stack([np.asarray(v) for v in codes.values()])
        outstanding = np.isin(stacked, (MISSING, STALE)).any(axis=0)
        if not outstanding.any():
            return
        ran_before = bool((stacked != MISSING).any())
        if not ran_before and not self.auto_run:
            return
        self.resume_job = self.runner.submit_run()
        n = int(outstanding.sum())
        self.status.emit(f"Resuming the pipeline on {n} frame{'s' if n != 1 else ''} that are stale or not done."
                         if ran_before else "Running the pipeline on the new project...")
        self.jobs_changed.emit()

    def job_lines(self) -> list[tuple[int, str, str, str, int, int]]:
        """``(job_id, state, title, detail, done, total)`` per job to show: active ones, then those
        that ended in the last few seconds (so a cancel or a failure is seen)."""
        out = []
        for job in self.runner.jobs() if self.runner is not None else []:
            if job.kind == "prepare":
                continue  # background embedding work the user did not ask for
            text = describe(job.kind, job.job_id, job.state, job.done, job.total, job.fps, job.eta_s,
                            self.job_stage.get(job.job_id, ""))
            out.append((job.job_id, job.state, text.title, text.detail, job.done, job.total))
        now = time.monotonic()
        self.finished_jobs = [f for f in self.finished_jobs if now - f.at < FINISHED_SHOWN_S]
        for f in self.finished_jobs:
            text = describe(f.kind, f.job_id, f.status, f.done, f.total, message=f.message)
            out.append((f.job_id, f.status, text.title, text.detail, f.done, f.total))
        return out

    def undo(self) -> None:
        self._history("undo")

    def redo(self) -> None:
        self._history("redo")

    def _history(self, which: Literal["undo", "redo"]) -> None:
        if self.project is None:
            return
        self.clear_prompt()  # the points described the mask before the undo: never send them again
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
            self.job_stage[event.job_id] = event.stage
            self.job_counts[event.job_id] = (event.done, event.total)
            text = describe(event.kind, event.job_id, "running", event.done, event.total, event.fps,
                            getattr(event, "eta_s", 0.0) or 0.0, event.stage)
            self.status.emit(text.line())
            self.jobs_changed.emit()
        elif name == "JobFinished":
            if event.kind == "prepare" and event.status != "failed":
                return  # background embedding work the user did not ask for: no status noise
            done, total = self.job_counts.pop(event.job_id, (0, 0))
            self.job_stage.pop(event.job_id, None)
            if event.status in ("cancelled", "failed"):
                self.finished_jobs.append(FinishedJob(event.job_id, event.kind, event.status, event.message,
                                                      done, total, time.monotonic()))
            if event.kind in ("delete", "undo", "redo"):
                self._objects_touched()  # the object list may have changed with the masks
            text = describe(event.kind, event.job_id, event.status, done, total, message=event.message)
            self.status.emit(text.line() + ".")
            if event.status == "failed" and event.message:
                self.error.emit(CelstudioError(event.message))
            by_user = event.job_id in self._cancelled_by_user
            all_of_them = event.job_id in self._cancelled_all
            self._cancelled_by_user.discard(event.job_id)
            self._cancelled_all.discard(event.job_id)
            if event.status == "cancelled" and event.kind in INTERACTIVE_KINDS and not all_of_them:
                # What the cancelled edit left stale is picked up again (unless paused, see _resume_stale).
                self._resume_pending = True
            elif event.status == "cancelled" and by_user:
                self._resume_pending = False
            self.jobs_changed.emit()
            self._refresh_status()
        elif name == "FrameFailed":
            self.status.emit(f"{event.stage} failed on frame {event.frame + 1}: {event.reason}")

    def _refresh_status(self) -> None:
        """Recompute the timeline's stage strips on the loader's background thread."""
        if self.project is None or self.loader is None:
            return
        runner, project = self.runner, self.project

        def compute() -> dict[str, np.ndarray]:
            if runner is not None:
                return {stage: np.asarray(runner.stage_status(stage), np.uint8) for stage in STAGES}
            return {stage: saved_stage_status(project, stage) for stage in STAGES}

        self.loader.request_status(compute)

    @Slot(object)
    def _on_status(self, cache: dict[str, np.ndarray]) -> None:
        self._status_cache = cache
        self.work_left = summarize(cache)
        self.timeline_changed.emit()
        if self._resume_pending:
            self._resume_stale(cache)

    def stale_frames(self) -> int:
        """Frames with at least one stage result that is stale (its inputs changed since)."""
        return self.work_left.get("stale", 0)

    def stage_status(self) -> dict[str, np.ndarray]:
        return self._status_cache


def summarize(codes: dict[str, np.ndarray]) -> dict[str, int]:
    """Frames by what is left to do: ``stale`` (some result is out of date), ``missing`` (some stage
    never ran), ``failed``, ``running``; a frame is counted once, under its most urgent state."""
    if not codes:
        return {}
    stacked = np.stack([np.asarray(v) for v in codes.values()])
    running = (stacked == RUNNING).any(axis=0)
    stale = (stacked == STALE).any(axis=0) & ~running
    failed = (stacked == FAILED).any(axis=0) & ~running & ~stale
    missing = (stacked == MISSING).any(axis=0) & ~running & ~stale & ~failed
    return {"stale": int(stale.sum()), "missing": int(missing.sum()), "failed": int(failed.sum()),
            "running": int(running.sum()), "frames": int(stacked.shape[1])}
