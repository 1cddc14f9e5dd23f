"""The import completion marker: a project folder whose import was interrupted says so.

An import writes ``import.unfinished`` before any other project file and removes it only after the
manifest, every proxy and the frame index are on disk. A SIGKILL or power cut in between leaves the
marker, so opening the folder reports an unfinished import (and which source to import again)
instead of failing later on every proxy read; the importer may replace such a folder's project
files, since the marker proves Celstudio made them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from app.errors import ImportUnfinished
from app.store.manifest import atomic_write_text, fsync_dir

IMPORT_MARKER = "import.unfinished"


def mark_import_started(root: Path, source: Path) -> None:
    """Write the marker (durably) before the import writes anything else into ``root``."""
    atomic_write_text(Path(root) / IMPORT_MARKER, json.dumps({"source": str(source), "pid": os.getpid()}) + "\n")


def mark_import_finished(root: Path) -> None:
    """Remove the marker once every file of the import is complete and flushed."""
    (Path(root) / IMPORT_MARKER).unlink(missing_ok=True)
    fsync_dir(Path(root))


def unfinished_import_source(root: Path) -> str | None:
    """The source of an interrupted import into ``root`` ("" if unknown), or None if there is none."""
    path = Path(root) / IMPORT_MARKER
    if not path.is_file():
        return None
    try:
        return str(json.loads(path.read_text(encoding="utf-8")).get("source", ""))
    except (OSError, ValueError, AttributeError):
        return ""  # the kill may have hit the marker's own write: still unfinished


def check_import_finished(root: Path) -> None:
    """Raise `ImportUnfinished` when the import that made ``root`` never completed."""
    source = unfinished_import_source(root)
    if source is None:
        return
    what = source or "the source"
    raise ImportUnfinished(
        f"The import into {root} did not finish (it was interrupted); import {what} again with "
        f"`celstudio import {what} {root}`, which replaces the unfinished project.",
        source=source,
    )
