"""The object list: select, add, rename, recolour, confirm, change kind, merge, split, reassign, delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from app.errors import CelstudioError
from app.store import Project
from app.store.layers import label_counts
from app.store.objects import object_color
from app.ui.render import readable_color

if TYPE_CHECKING:  # each mixin type-checks against the state it works on
    from app.ui.controller.core import ControllerCore as _Base
else:
    _Base = object


class ObjectsMixin(_Base):
    """Object edits are journalled, undoable store edits, run on the pipeline's worker when there is one."""

    def object_colors(self) -> dict[int, tuple[int, int, int]]:
        if self.project is None:
            return {}
        return {o.id: tuple(o.color) for o in self.project.manifest.objects}  # type: ignore[misc]

    def object_kinds(self) -> dict[int, str]:
        return {} if self.project is None else {o.id: o.kind for o in self.project.manifest.objects}

    def object_color(self, object_id: int | None) -> tuple[int, int, int] | None:
        """The colour the canvas shows ``object_id`` in (readable on dark frames), None for no object."""
        if object_id is None:
            return None
        return readable_color(self.object_colors().get(object_id, object_color(object_id)))

    def objects_on_frame(self) -> set[int]:
        """The object ids with pixels on the current frame."""
        if self.project is None:
            return set()
        return set(label_counts(self.project.masks_or_empty(self.frame)))

    def object_shots(self, object_id: int) -> list[int]:
        """The shots (indices) where stage 1 found ``object_id`` (from its tracks; an object the user
        drew has none)."""
        if self.project is None:
            return []
        starts = {t.shot for t in self.project.objects.tracks_of(object_id)}
        return [i for i, s in enumerate(self.project.shots) if s.start in starts]

    def objects_anywhere(self) -> set[int]:
        """The object ids with pixels on some frame (from the store's per-frame lists: no mask is read)."""
        return set() if self.project is None else self.project.objects.seen()

    def go_to_object(self, object_id: int) -> bool:
        """Move to the nearest frame after the current one (else the first) where ``object_id`` has
        pixels, and make it the active object; False (and a status line) when it has none."""
        if self.project is None:
            return False
        frames = self.project.objects.frames_of(object_id)
        if not frames:
            self.status.emit(f"{self._object_name(object_id)} has no pixels on any frame.")
            return False
        self.set_frame(next((f for f in frames if f > self.frame), frames[0]))
        self.set_object(object_id)
        return True

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

    def set_object_kind(self, object_id: int, kind: str) -> Any:
        """Make the object a ``kind`` (character, effect, prop, text): one undoable edit. The stages that
        read kinds re-run where it is (text is painted out of plates and kept out of cut-outs, a prop
        is cut out like a character); nothing happens when it is that kind already."""
        info = self.project.object(object_id) if self.project is not None else None
        if info is None or info.kind == kind:
            return None
        return self._object_edit(lambda p: p.objects.set_kind(object_id, kind), "kind")

    def merge_objects(self, keep: int, absorb: int, *, allow_kinds: bool = False) -> Any:
        """``absorb`` becomes ``keep`` everywhere (one undoable edit). Objects of different kinds merge
        only with ``allow_kinds`` (the object list asks the user first); without it the store refuses."""
        if self.object_id == absorb:
            self.object_id = keep
        return self._object_edit(lambda p: p.objects.merge(keep, absorb, allow_kinds=allow_kinds), "merge")

    def split_object(self, object_id: int) -> Any:
        """The object's appearance in the current shot becomes a new object."""
        frame = self.frame
        return self._object_edit(lambda p: p.objects.split(object_id, [frame]), "split")

    def reassign_object(self, object_id: int, to: int, *, to_end: bool = False, allow_kinds: bool = False) -> Any:
        """What is ``object_id`` on the current frame becomes ``to`` in this shot (or from here to its end).
        What is of another kind than ``to`` moves only with ``allow_kinds`` (the object list asks the
        user first, `reassign_kinds`); without it the store refuses."""
        frame = self.frame
        return self._object_edit(
            lambda p: p.objects.reassign(frame, object_id, to, to_end=to_end, allow_kinds=allow_kinds), "reassign")

    def reassign_kinds(self, object_id: int, to: int, *, to_end: bool = False) -> str | None:
        """Why reassigning ``object_id`` on the current frame to ``to`` needs the user's word (it moves an
        object of another kind into ``to``), or None (also when there is nothing to reassign: the edit
        itself then says why)."""
        if self.project is None:
            return None
        try:
            return self.project.objects.reassign_kinds(self.frame, object_id, to, to_end=to_end)
        except CelstudioError:
            return None

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
        if not this_shot and self.object_id == object_id:
            self.object_id = None  # the next click selects what is under it, it edits no other object
        self._objects_touched()

    def _objects_touched(self) -> None:
        if self.project is not None and self.object_id is not None and self.project.object(self.object_id) is None:
            # It left the list (deleted from its only shot, an undone add): clicks must not edit an object
            # the user cannot see; a click selects what is under it again.
            self.object_id = None
            self.clear_prompt()
            if self.loader is not None:
                self.loader.set_active(None)
        if self.loader is not None:
            self.loader.set_colors(self.object_colors())
            self.loader.set_kinds(self.object_kinds())
            self.data_changed.emit({"masks": None})
        self.objects_changed.emit()

