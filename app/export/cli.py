"""``celstudio export PROJECT OUT --format F --option KEY=VALUE ...``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.errors import ProjectLocked, ProjectReadOnly
from app.export import SELECTION_KEYS, export_project
from app.export.naming import ExportError
from app.store import Project
from app.words import shot_indices

LIST_KEYS = {"shots", "exclude_shots", "objects", "exclude_objects", "frames"}
INT_LIST_KEYS = {"shots", "exclude_shots", "frames"}
BOOL_KEYS = {"corrected_only", "balance", "alpha16", "frames_flag", "caption", "confirmed_only", "include_text",
             "require_face", "diverse", "every_frame", "report"}
FLOAT_KEYS = {"min_confidence", "min_area", "margin", "min_sharpness", "max_truncation", "max_occlusion",
              "min_aesthetic"}
INT_KEYS = {"dedupe", "max_per_shot", "repeats", "shard_size", "png_level", "workers", "best_k"}


def _bool(key: str, text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise ExportError(f"Option {key} takes true or false, not {text!r}.")


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``["KEY=VALUE", ...]`` -> typed keyword arguments for `export_project`."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ExportError(f"Options are written KEY=VALUE, not {pair!r}.")
        try:
            if key in LIST_KEYS:
                items = [v.strip() for v in value.split(",") if v.strip()]
                out[key] = [int(v) for v in items] if key in INT_LIST_KEYS else items
            elif key in BOOL_KEYS:
                out[key] = _bool(key, value)
            elif key in FLOAT_KEYS:
                out[key] = float(value)
            elif key in INT_KEYS:
                out[key] = int(value)
            else:
                out[key] = value
        except ValueError as exc:
            raise ExportError(f"Option {key} has a bad value {value!r}.") from exc
    return out


def run_export_command(args: argparse.Namespace) -> int:
    """Run the export the CLI asked for; prints progress to stderr and a JSON summary to stdout."""
    options = parse_options(list(args.option or []))
    workers = int(options.pop("workers", 2))
    if "frames" in options and not isinstance(options["frames"], list):
        options.pop("frames")

    if getattr(args, "confirmed_only", False):
        options["confirmed_only"] = True

    def progress(done: int, total: int) -> None:
        if done == total or done % 25 == 0:
            print(f"exported {done}/{total} frames", file=sys.stderr)

    def stage_progress(stage: str, done: int, total: int) -> None:
        if done == total or done % 25 == 0:
            print(f"updating stale results: {stage} {done}/{total}", file=sys.stderr)

    allow_stale = bool(getattr(args, "allow_stale", False))
    try:  # writable, so stale results can be brought up to date before they are written
        project = Project.open(Path(args.project))
    except (ProjectLocked, ProjectReadOnly) as exc:
        # Open in another window (or a read-only folder): export what is there without writing the
        # project, and list the stale frames in the manifest instead of refreshing them.
        print(f"{exc} Exporting read-only; stale frames are listed in the manifest.", file=sys.stderr)
        project = Project.open(Path(args.project), read_only=True)
        allow_stale = True
    with project:
        for key in ("shots", "exclude_shots"):  # numbered from 1 on the command line, as the app shows them
            if key in options:
                options[key] = shot_indices(options[key], len(project.shots), f"--option {key}")
        summary = export_project(project, Path(args.out), format=str(args.format), progress=progress,
                                 workers=workers, allow_stale=allow_stale,
                                 stage_progress=stage_progress,
                                 force=bool(getattr(args, "force", False)), **options)
    summary["selection_keys"] = sorted(k for k in options if k in SELECTION_KEYS)
    print(json.dumps(summary, indent=1))
    return 0
