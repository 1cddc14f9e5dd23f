"""`MainController`: the interaction state of the app and every action on it, callable headless.

Views are passive: they render what the controller says and forward gestures to its actions. Tests
drive the app through these same actions. Heavy work goes to the `PipelineRunner`; frame decoding and
layer rendering go to the `FrameLoader`'s threads.

One module per seam: `core` (state and signals), `lifecycle` (open, close, settings, store events),
`jobs` (runs, cancel, pause, runner events, status strips), `navigation` (frame, shots, playback),
`view_state` (layers, compare), `objects` (the object list) and `editing` (tools, prompts, strokes,
undo).
"""

from __future__ import annotations

from app.ui.controller.core import (
    FINISHED_SHOWN_S,
    MIN_BOX,
    Compare,
    ControllerCore,
    FinishedJob,
    LayerState,
    RunnerFactory,
    Tool,
)
from app.ui.controller.editing import EditingMixin
from app.ui.controller.jobs import JobsMixin, summarize
from app.ui.controller.lifecycle import LifecycleMixin
from app.ui.controller.navigation import NavigationMixin
from app.ui.controller.objects import ObjectsMixin
from app.ui.controller.view_state import ViewStateMixin

__all__ = ["FINISHED_SHOWN_S", "MIN_BOX", "Compare", "FinishedJob", "LayerState", "MainController",
           "RunnerFactory", "Tool", "summarize"]


class MainController(LifecycleMixin, JobsMixin, NavigationMixin, ViewStateMixin, ObjectsMixin, EditingMixin,
                     ControllerCore):
    """Holds the open project, the runner and the interaction state (see `ControllerCore` for the
    signals); the actions come from one mixin per seam."""

    def __init__(self, runner_factory: RunnerFactory | None = None) -> None:
        super().__init__(runner_factory)
        self._play.timeout.connect(self._tick)
        self._status_timer.timeout.connect(self._refresh_status)
        self._prepare.timeout.connect(self._prepare_frame)
        self.bridge.layers_dirty.connect(self._on_layers_dirty)
        self.bridge.committed.connect(self._on_committed)
        self.bridge.manifest_changed.connect(lambda _what: self._objects_touched())
        self.bridge.runner_event.connect(self._on_runner_event)
