"""Editing: tools, prompts (points and box), brush strokes, undo and redo.

The gestures the frame view's tools (`app.ui.tools`) turn into calls; each edit goes to the runner as a
job and is journalled there. Rasterising a stroke is Qt-free (`app.pipeline.strokes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from app.errors import CelstudioError
from app.pipeline.strokes import rasterise_stroke
from app.store.history_text import history_outcome
from app.ui.controller.core import MIN_BOX, Tool
from models.base import Prompt

if TYPE_CHECKING:  # each mixin type-checks against the state it works on
    from app.ui.controller.core import ControllerCore as _Base
else:
    _Base = object


class EditingMixin(_Base):
    """The active tool and the prompt of the current frame, and the corrections they make."""

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
        # Named as the pipeline names its objects ("Character 3") and not confirmed: an automatic name the user
        # never gave was exported as confirmed ("Object 3" on konobi). Adding it is an undoable edit.
        self.project.objects.add("", oid=free)
        return free

    def _list_object(self, object_id: int, name: str = "") -> None:
        """Put an id the pipeline found (or a new one) in the object list, so it can be named and
        coloured. A new object (named) is a journalled, undoable edit like any other; listing an id the
        masks already hold, when a click selects it, is the app's (journalled, but neither on the undo
        stack nor clearing the redo stack: the user only selected)."""
        assert self.project is not None
        if self.project.object(object_id) is not None:
            return
        self.project.objects.add(name, oid=object_id, undoable=bool(name))

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
        r = round(radius if radius is not None else self.brush_radius)
        stroke = rasterise_stroke(points, r, (self.project.height, self.project.width))
        erase = self.tool == "eraser" if erase is None else erase
        self.last_job = self.runner.submit_brush(self.frame, oid, stroke, erase)
        self.status.emit(f"{'Erased from' if erase else 'Painted'} {self._object_name(oid)} on frame {self.frame + 1}.")
        return self.last_job

    def _object_name(self, oid: int) -> str:
        info = self.project.object(oid) if self.project else None
        return info.name if info else f"object {oid}"


    def undo(self) -> None:
        self._history("undo")

    def redo(self) -> None:
        self._history("redo")

    def _history(self, which: Literal["undo", "redo"]) -> None:
        if self.project is None:
            return
        self.clear_prompt()  # the points described the mask before the undo: never send them again
        # Nothing to undo (a re-run may have cleared the history: app.store.retire) and no edit on its way
        # that an undo queued behind it would revert: say so at once.
        pending = self.runner is not None and any(j.kind != "prepare" and j.state in ("queued", "running")
                                                  for j in self.runner.jobs())
        if not pending and not (self.project.history.done if which == "undo" else self.project.history.undone):
            self.status.emit(f"Nothing to {which}.")
            return
        try:
            if self.runner is not None:
                # The undo runs as a job, after the jobs before it: what it undid (or that there was
                # nothing) is only known then, and the status line says it when the job ends.
                self.runner.undo() if which == "undo" else self.runner.redo()
                if pending:
                    self.status.emit(f"{which.title()} waits for the jobs before it.")
                return
            entry = self.project.undo() if which == "undo" else self.project.redo()
        except CelstudioError as exc:
            self.error.emit(exc)
            return
        self.status.emit(history_outcome(self.project, which, entry))
