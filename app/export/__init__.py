"""Dataset exporters: kohya, layers, coco, hf and webdataset (see docs/export.md). No Qt here."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from app.export.core import Cancel, Progress, run_export
from app.export.freshness import StageProgress, not_fresh, refresh
from app.export.naming import ExportCancelled, ExportError
from app.export.selection import Selection
from app.store import Project

SELECTION_KEYS = frozenset(f.name for f in fields(Selection))


def format_names() -> list[str]:
    from app.export.formats import FORMATS

    return sorted(FORMATS)


def export_project(project: Project, out: Path | str, *, format: str = "layers", progress: Progress | None = None,
                   cancel: Cancel | None = None, workers: int = 2, allow_stale: bool = False, runner: Any = None,
                   stage_progress: StageProgress | None = None, force: bool = False, **options: Any) -> dict[str, Any]:
    """Export ``project`` into the folder ``out``; return a summary dict.

    Keyword arguments named like `Selection` fields (``corrected_only``, ``min_confidence``,
    ``min_area``, ``dedupe``, ``max_per_shot``, ``balance``, ``shots``, ``exclude_shots``,
    ``objects``, ``exclude_objects``, ``frames``) choose what is exported; the others are options
    of the format (e.g. ``unit``, ``background``, ``mask``, ``buckets``, ``repeats``, ``alpha16``).
    ``progress(done, total)`` is called after each frame; ``cancel()`` returning True stops the
    export with `ExportCancelled` (what was written stays valid; a re-run resumes).

    Stale results are re-run first (through ``runner``, the app's pipeline runner, or one of this
    call's own; ``stage_progress(stage, done, total)``), unless ``allow_stale``: then they are written
    and listed in the manifest. Frames still not fresh after the re-run are listed too.
    ``force`` exports into a folder holding files Celstudio did not write (they are kept, never deleted).
    """
    from app.export.formats import FORMATS

    if format not in FORMATS:
        raise ExportError(f"Unknown export format {format!r}; choose one of {', '.join(sorted(FORMATS))}.")
    selection = Selection(**{k: v for k, v in options.items() if k in SELECTION_KEYS})
    fmt_options = {k: v for k, v in sorted(options.items()) if k not in SELECTION_KEYS}
    fmt = FORMATS[format](fmt_options)  # type: ignore[call-arg]
    wanted = {i for i in range(len(project.shots)) if selection.shots is None or i in selection.shots}
    wanted -= set(selection.exclude_shots)
    frames = {f for i in wanted for f in range(project.shots[i].start, project.shots[i].end)}
    stale = not_fresh(project, frames)
    if stale and not allow_stale:
        refresh(project, sorted(stale), runner=runner, progress=stage_progress, cancel=cancel)
        stale = not_fresh(project, frames)
    return run_export(project, Path(out), fmt, fmt_options, selection, progress=progress, cancel=cancel,
                      workers=workers, stale=stale, force=force)


__all__ = ["ExportCancelled", "ExportError", "Selection", "export_project", "format_names"]
