"""The controller's state and signals; the actions on them live in the sibling modules (mixins).

`MainController` (``app.ui.controller``) is this state plus one mixin per seam: lifecycle, jobs,
navigation, view state, objects and editing. Each mixin type-checks against `ControllerCore`; the few
actions one seam calls on another are declared at the end of the class.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from app.store import Project
from app.ui.bridge import EventBridge
from app.ui.loader import FrameLoader
from app.ui.render import LAYER_ORDER
from app.ui.runner_link import RunnerLike, default_runner_factory

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
INTERACTIVE_KINDS = {"click", "brush", "propagate", "update", "undo", "redo", "delete"}


class ControllerCore(QObject):
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
        self.mark_invented = True  # the clean plate's invented pixels hatched
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
        self._history_notice = ""  # what a re-run cleared from the undo history, said when its job ends
        self._edit_said = ""  # what the last edit did, said again when the update after it ends
        self._cancelled_all: set[int] = set()
        self._unsubscribe: list[Callable[[], None]] = []
        self._runner_unsubscribe: Callable[[], None] = lambda: None
        self._status_cache: dict[str, np.ndarray] = {}
        self._play = QTimer(self)
        self._status_timer = QTimer(self, singleShot=True, interval=250)
        self._prepare = QTimer(self, singleShot=True, interval=300)

    if TYPE_CHECKING:  # actions one seam calls on another (defined in the mixins)
        def close_project(self) -> None: ...
        def set_object(self, object_id: int | None) -> None: ...
        def set_frame(self, frame: int) -> None: ...
        def object_colors(self) -> dict[int, tuple[int, int, int]]: ...
        def object_kinds(self) -> dict[int, str]: ...
        def clear_prompt(self) -> None: ...
        def _objects_touched(self) -> None: ...
        def _list_object(self, object_id: int, name: str = "") -> None: ...
        def _object_name(self, oid: int) -> str: ...
        def _refresh_status(self) -> None: ...
        def _on_status(self, cache: dict[str, np.ndarray]) -> None: ...
        def _edit_target(self, x: float | None = None, y: float | None = None) -> int | None: ...
        def brush(self, points: Sequence[tuple[float, float]], radius: float | None = None,
                  erase: bool | None = None) -> Any: ...
        @property
        def frame_count(self) -> int: ...
