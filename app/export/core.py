"""The export driver: selection, per-frame rendering on a worker pool, atomic writes, the manifest."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from functools import cached_property, partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from app.errors import is_disk_full
from app.export.folder import check_output_folder, disk_full_error, ensure_space
from app.export.manifest import ExportWriter, digest
from app.export.naming import ExportCancelled, ExportError, sanitize, trigger_word
from app.export.quality import Decisions
from app.export.selection import FrameItem, Selection, character_key, select
from app.pipeline.under_text import UnderText, donor_versions, under_text
from app.store import ObjectInfo, Project

EXPORTER_VERSION = 2  # bump when the bytes an unchanged project exports to change
ARRAY_LAYERS = ("masks", "alpha", "effects", "clean", "confidence", "plate_confidence")
Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]


@dataclass
class Output:
    """One file of an export: where it goes, how to make it, and what it came from.

    ``produce`` is only called when the file is not already fresh on disk.
    """

    rel: str
    produce: Callable[[], bytes]
    info: dict[str, Any]
    record: dict[str, Any] | None = None  # for aggregate files (COCO JSON, metadata.jsonl)
    key_extra: Any = None


@dataclass
class FrameData:
    """A frame's picture and layers, read once from the store; layers are None where never written."""

    project: Project
    item: FrameItem

    @property
    def frame(self) -> int:
        return self.item.frame

    @cached_property
    def image(self) -> np.ndarray:
        return self.project.frame(self.frame)

    def layer(self, name: str) -> np.ndarray | None:
        return self.project.layers.read(name, self.frame)

    @cached_property
    def labels(self) -> np.ndarray:
        return self.project.masks_or_empty(self.frame)

    @cached_property
    def alpha(self) -> np.ndarray | None:
        return self.layer("alpha")

    @cached_property
    def clean(self) -> np.ndarray | None:
        return self.layer("clean")

    @cached_property
    def under_text(self) -> UnderText | None:
        """The characters' pixels under burnt-in text, painted (`app.pipeline.under_text`)."""
        return under_text(self.project, self.frame, self.labels, self.image)

    @cached_property
    def object_labels(self) -> np.ndarray:
        """`labels` with the pixels text hides of a character given to it: a cut-out's mask."""
        ut = self.under_text
        return self.labels if ut is None else ut.labels(self.labels)

    @cached_property
    def object_image(self) -> np.ndarray:
        """`image` with the characters' pixels under text painted from the character."""
        ut = self.under_text
        return self.image if ut is None else ut.image

    @cached_property
    def object_alpha(self) -> np.ndarray | None:
        """`alpha`, opaque where text hides a character."""
        ut = self.under_text
        return self.alpha if ut is None else ut.alpha(self.alpha)

    @cached_property
    def annotations(self) -> dict[str, Any]:
        return self.project.layers.read_record("annotations", self.frame) or {}

    @cached_property
    def sources(self) -> dict[str, Any]:
        """Layer versions and the backends' meta that made them (for the manifest and the keys)."""
        out: dict[str, Any] = {}
        for name in ARRAY_LAYERS:
            v = self.project.layers.version(name, self.frame)
            if v:
                out[name] = {"version": v, **self.project.layers.meta(name, self.frame)}
        if self.project.objects.ids_of_kind("text"):
            # a cut-out's pixels under text may be copied from the shot's other drawings (`under_text`)
            out["donor_masks"] = digest(donor_versions(self.project, self.frame))[:16]
        if self.annotations:
            out["annotations"] = {k: self.annotations.get(k) for k in ("backend", "version") if k in self.annotations}
            out["annotations"]["digest"] = digest(self.annotations)[:16]
        return out

    @property
    def tags(self) -> list[str]:
        return [str(t) for t in self.annotations.get("tags", []) if str(t).strip()]

    @property
    def caption(self) -> str:
        return str(self.annotations.get("caption", "") or "")


@dataclass
class ExportContext:
    """What a format sees: the project, the output writer, its options and naming helpers."""

    project: Project
    writer: ExportWriter
    options: dict[str, Any]
    selection: Selection
    records: list[dict[str, Any]] = field(default_factory=list)
    decisions: Decisions = field(default_factory=Decisions)
    stale: dict[int, list[str]] = field(default_factory=dict)  # frame -> stages not fresh (allow_stale)

    def obj(self, oid: int) -> ObjectInfo:
        return self.project.object(oid) or ObjectInfo(oid, f"object{oid}")

    def object_dir(self, oid: int) -> str:
        """Folder name of an object: its id keeps two objects with the same name apart."""
        return f"{oid:03d}_{sanitize(self.obj(oid).name, 'object')}"

    def trigger(self, oid: int) -> str:
        """The caption trigger word of an object's character (shared by objects of one identity)."""
        obj = self.obj(oid)
        if self.options.get("trigger") == "identity" and obj.identity:
            word = obj.identity
        else:  # the first object of that identity names it, so renaming one copy cannot split a character
            key = character_key(obj)
            first = next((o for o in self.project.manifest.objects if character_key(o) == key), obj)
            word = first.name
        return str(self.options.get("trigger_prefix", "")) + trigger_word(word)

    def base_info(self, fd: FrameData, oid: int | None = None) -> dict[str, Any]:
        info: dict[str, Any] = {"frame": fd.frame, "shot": fd.item.shot, "sources": fd.sources}
        if fd.frame in self.stale:
            info["stale"] = self.stale[fd.frame]
        if oid is not None:
            o = self.obj(oid)
            info["object"] = {"id": oid, "name": o.name, "kind": o.kind, "identity": o.identity,
                              "confirmed": o.confirmed}
            key = (fd.frame, oid)
            if key in self.decisions.signals:
                info["quality"] = self.decisions.signals[key]
            info["chosen_because"] = self.decisions.reasons.get(key, "passes the selection")
            hidden = fd.under_text.record(oid) if fd.under_text is not None else None
            if hidden is not None:
                info["under_text"] = hidden  # pixels a subtitle hides, painted in the cut-out
        return info


class Format(Protocol):
    """An export format: per-frame outputs, then aggregate files from the collected records."""

    name: str
    per_object: bool

    def frame_outputs(self, ctx: ExportContext, fd: FrameData) -> list[Output]: ...

    def finish(self, ctx: ExportContext) -> None: ...


def _chunks(items: list[FrameItem], n: int) -> Iterator[list[FrameItem]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def run_export(project: Project, out: Path, fmt: Format, options: dict[str, Any], selection: Selection, *,
               progress: Progress | None = None, cancel: Cancel | None = None, workers: int = 2,
               stale: dict[int, list[str]] | None = None, force: bool = False) -> dict[str, Any]:
    """Export ``project`` to ``out`` in ``fmt``; returns a summary (counts, removed stale files).

    ``stale`` (frame -> stages whose results are not fresh) is listed in the manifest for the
    frames exported, and on each of their files. ``out`` may be new, empty, or an earlier export of
    Celstudio's; other content needs ``force`` (see `app.export.folder`). A failure after the first
    write leaves the folder marked unfinished.
    """
    out = Path(out)
    if out.resolve() == project.root.resolve() or project.root.resolve() in out.resolve().parents:
        raise ExportError("Export into a folder outside the project folder.")
    decisions = Decisions()
    items = select(project, selection, per_object=fmt.per_object, decisions=decisions)
    if not items:
        raise ExportError("Nothing to export: no frame with masks passes the selection.")
    folder = check_output_folder(out, force=force)
    objects = [asdict(o) for o in project.manifest.objects]
    header = {
        "format": fmt.name, "options": options, "selection": selection.describe(), "exporter": EXPORTER_VERSION,
        "project": {"name": project.manifest.name, "source": project.manifest.source.content_hash,
                    "frames": project.frame_count, "width": project.width, "height": project.height},
        "objects": objects,
    }
    chosen = {it.frame for it in items}
    stale_here = {f: stages for f, stages in sorted((stale or {}).items()) if f in chosen}
    if stale_here:
        header["stale_frames"] = {str(f): stages for f, stages in stale_here.items()}
    writer = ExportWriter(out, json.loads(json.dumps(header, default=str)))
    ctx = ExportContext(project, writer, options, selection, stale=stale_here, decisions=decisions)
    export_key = digest({k: header[k] for k in ("format", "options", "exporter", "objects")})

    def job(item: FrameItem) -> list[tuple[Output, str, bytes | None]]:
        fd = FrameData(project, item)
        results = []
        for o in fmt.frame_outputs(ctx, fd):
            key = digest([export_key, o.rel, fd.frame, fd.sources, o.key_extra])
            data = None if writer.fresh(o.rel, key) else o.produce()
            results.append((o, key, data))
        return results

    done = 0
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for chunk in _chunks(items, max(1, workers) * 2):
                if cancel is not None and cancel():
                    writer.save(partial=True)
                    raise ExportCancelled(
                        f"Export cancelled after {done} of {len(items)} frames; run it again to resume."
                    )
                for results in pool.map(job, chunk):
                    for o, key, data in results:
                        writer.put(o.rel, key, o.produce if data is None else partial(bytes, data), o.info)
                        if o.record is not None:
                            ctx.records.append({**o.record, "file_name": o.rel})
                    done += 1
                    if progress is not None:
                        progress(done, len(items))
                _check_space_ahead(writer, done, len(items))
        fmt.finish(ctx)
        if options.get("report", True):
            from app.export.report import render_report

            report_key = digest([export_key, sorted(decisions.reasons.items()), sorted(decisions.chosen)])
            writer.put("report.html", report_key,
                       partial(render_report, project, decisions, {"project": project.manifest.name, "format": fmt.name}),
                       {"kind": "report"})
        removed = writer.finish()
    except BaseException as exc:
        _stop_unfinished(writer, exc, done, len(items))
        raise
    exported = {oid for it in items for oid in it.objects}
    # Frames left out only because they hold an earlier frame's drawing (a user saw "8 frames" exported
    # of 72 and no reason: the summary says how many, and that every_frame keeps them).
    held = {key[0] for key, reason in decisions.reasons.items() if reason.startswith("held:")}
    held -= {key[0] for key in decisions.chosen}
    keys = project.drawing_keys  # with every_frame: how many of the frames written hold an earlier one's drawing
    held_exported = sum(1 for it in items if int(keys[it.frame]) != it.frame)
    return {"format": fmt.name, "frames": len(items), "files": len(writer.entries), "written": writer.written,
            "held_frames": len(held), "held_exported": held_exported,
            "skipped": writer.skipped, "removed": removed, "out": str(out), "stale_frames": sorted(stale_here),
            # By name, the objects with pixels in the exported frames (not every listed one: burnt-in
            # text is left out unless asked for, and an object deleted from its shots has none).
            "objects_exported": [o.name for o in project.manifest.objects if o.id in exported],
            "unconfirmed_objects": [o.name for o in project.manifest.objects
                                    if not o.confirmed and any(o.id in it.objects for it in items)],
            "rewritten": sorted(writer.rewritten), "kept_changed": writer.kept,
            "removed_leftovers": folder.removed_leftovers, "moved_aside": folder.moved_aside}


def _check_space_ahead(writer: ExportWriter, done: int, total: int) -> None:
    """Before the rest of the frames: is there room for them at the rate written so far?"""
    if writer.written and done < total:
        per_frame = writer.bytes_written / max(done, 1)
        ensure_space(writer.out, int(per_frame * (total - done)), "the rest of the export")


def _stop_unfinished(writer: ExportWriter, exc: BaseException, done: int, total: int) -> None:
    """After a failure: keep what was written listed (resumable, marked unfinished); a full disk is one line."""
    if writer.written:
        with suppress(OSError):  # the disk may be too full even for the manifest; the journal lists every file
            writer.save(partial=True)
    if is_disk_full(exc):
        per_frame = writer.bytes_written / max(done, 1)
        raise disk_full_error(writer.out, done, total, int(per_frame * (total - done)) + (16 << 20)) from exc
