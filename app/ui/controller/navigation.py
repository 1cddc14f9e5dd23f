"""Navigation: the current frame, stepping, shots (split, merge) and playback."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # each mixin type-checks against the state it works on
    from app.ui.controller.core import ControllerCore as _Base
else:
    _Base = object


class NavigationMixin(_Base):
    """Moves the playhead; a new frame drops the prompt and readies the click model for that frame."""

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
            number = next(i for i, s in enumerate(shots) if s.start == self.frame) + 1
            self.status.emit(f"Split the shot at frame {self.frame + 1}: shot {number} starts there.")  # from 1, as shown

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

