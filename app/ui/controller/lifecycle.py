"""Lifecycle: opening and closing a project, its runner and loader, settings, and store events."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Slot

from app.errors import CelstudioError, ProjectDamaged, ProjectLocked, ProjectReadOnly
from app.store import Project
from app.store.retire import RETIRE, cleared_notice
from app.ui.loader import FrameLoader
from app.words import counted, history_cleared

if TYPE_CHECKING:  # each mixin type-checks against the state it works on
    from app.ui.controller.core import ControllerCore as _Base
else:
    _Base = object

log = logging.getLogger(__name__)


class LifecycleMixin(_Base):
    """One project at a time: opening it starts its runner (none when read-only) and frame loader."""

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
        self.loader.set_kinds(self.object_kinds())
        self.loader.set_mark_invented(self.mark_invented)
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
        self.status.emit(f"Opened {project.manifest.name}: {project.frame_count} frames, {counted(len(project.shots), 'shot')}.")

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

    @Slot(object)
    def _on_layers_dirty(self, dirty: dict[str, set[int]]) -> None:
        if self.loader is None:
            return
        if self.project is not None:
            # A write lands on a drawing's first frame (`Project.layers`); every frame of its hold shows
            # it, so a view on a held frame must redraw too (a click there was never shown).
            n = self.project.frame_count
            dirty = {layer: {h for f in frames for h in (self.project.hold_of(f) if 0 <= f < n else (f,))}
                     for layer, frames in dirty.items()}
        for layer, frames in dirty.items():
            self.loader.invalidate(layer, tuple(frames))
            if layer in ("masks", "clean"):  # the cut-out keeps to the characters' labels, its edge to the plate
                self.loader.invalidate("alpha", tuple(frames))
            if layer == "plate_confidence":
                self.loader.invalidate("clean", tuple(frames))  # its invented pixels are hatched
            if layer == "masks" and self.project is not None and self.project.objects.ids_of_kind("text"):
                # a cut-out under text is painted from its shot's other drawings (`under_text`)
                self.loader.invalidate("alpha", tuple({g for f in frames if 0 <= f < self.project.frame_count
                                                     for g in range(self.project.shot_of(f).start, self.project.shot_of(f).end)}))
            if layer == "confidence":
                self.loader.request_confidence(sorted(frames))
        self.data_changed.emit({k: tuple(v) for k, v in dirty.items()})
        if not self._status_timer.isActive():
            self._status_timer.start()

    @Slot(object)
    def _on_committed(self, event: Any) -> None:
        if self.project is not None:
            self.corrected = self.project.corrected_frames()
            self.timeline_changed.emit()
            if getattr(event, "kind", None) == RETIRE:
                # A re-run took undo history off the stacks: said once, with its job's last line
                # (`_on_job_finished`), which would otherwise replace it at once.
                self._history_notice = self._history_cleared(int(event.seq))

    def _history_cleared(self, seq: int) -> str:
        assert self.project is not None
        entry = next((e for e in self.project.journal.entries if e.seq == seq), None)
        return cleared_notice(self.project, entry) if entry is not None else history_cleared([1])

    @Slot(object)
    def _on_confidence(self, values: dict[int, float]) -> None:
        self.confidence.update(values)
        self.timeline_changed.emit()

