"""Output-folder safety: what an export may touch, leftovers of a killed run, free space.

An export owns exactly the files its own ``manifest.json`` lists. Before writing it looks at the
folder: anything else there (a user's notes, another tool's ``manifest.json``) is unknown content,
and the export refuses it unless ``force`` is given - and even then it never deletes it, and a
foreign ``manifest.json`` is moved aside rather than overwritten. Temporary files of a run that was
killed (``.<name>.<pid>.tmp``, e.g. half-written WebDataset shards) are Celstudio's own and are
removed on the next run once their process is gone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.export.naming import ExportError

MANIFEST_FILE = "manifest.json"
# One JSON line per file, appended just before the file takes its final name: files written after
# the last manifest checkpoint of a killed run are still known as Celstudio's (and resumable).
JOURNAL_FILE = ".celstudio-export.journal"
GENERATOR = "celstudio"
# atomic_write and the shard writer name their temporaries ``.<final name>.<pid>.tmp``.
_TMP = re.compile(r"^\..+\.(\d+)\.tmp$")
# Kept free beyond what a write needs, so the manifest checkpoint after it still fits.
SPACE_RESERVE = 16 << 20
UNKNOWN_SHOWN = 3


@dataclass
class FolderCheck:
    """What `check_output_folder` found: the earlier manifest (if ours) and what it cleaned up."""

    previous: dict[str, Any] | None = None
    unknown: list[str] = field(default_factory=list)
    removed_leftovers: list[str] = field(default_factory=list)
    moved_aside: str | None = None


def is_celstudio_manifest(doc: object) -> bool:
    """True when ``doc`` (parsed JSON) is an export manifest Celstudio wrote."""
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
        return False
    if doc.get("generator") == GENERATOR:
        return True
    # Manifests written before the generator field: these keys together are ours alone.
    return {"manifest_version", "exporter", "format", "project"} <= doc.keys()


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process, or cannot tell: leave its file alone
    return True


def read_journal(out: Path) -> list[dict[str, Any]]:
    """The entries of files a killed run wrote after its last manifest checkpoint (a cut last line is dropped)."""
    path = Path(out) / JOURNAL_FILE
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    entries = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("path"), str) and "sha256" in entry:
            entries.append(entry)
    return entries


def _read_manifest(path: Path) -> tuple[dict[str, Any] | None, bool]:
    """(the parsed manifest if it is ours, whether a file is there at all)."""
    if not path.is_file():
        return None, path.exists() or path.is_symlink()
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None, True
    return (doc if is_celstudio_manifest(doc) else None), True


def check_output_folder(out: Path, *, force: bool = False) -> FolderCheck:
    """Check ``out`` before an export writes into it; remove a killed run's leftovers.

    Raises
    ------
    ExportError
        ``out`` is a file, or holds content Celstudio did not write and ``force`` is False.
    """
    out = Path(out)
    try:
        if not out.exists():
            return FolderCheck()
    except OSError as exc:
        raise ExportError(f"The output folder {out} cannot be used ({exc.strerror or exc}).") from exc
    if not out.is_dir():
        raise ExportError(f"{out} is a file, not a folder; export into a new or empty folder.")
    check = FolderCheck()
    manifest_path = out / MANIFEST_FILE
    check.previous, manifest_there = _read_manifest(manifest_path)
    listed = {str(f["path"]) for f in (check.previous or {}).get("files", [])
              if isinstance(f, dict) and "path" in f}
    journal = read_journal(out)
    listed |= {e["path"] for e in journal}
    if journal:
        listed.add(JOURNAL_FILE)
    leftovers: list[Path] = []
    for folder, dirs, files in os.walk(out):
        dirs.sort()
        # A linked folder is the user's (an export never makes links); os.walk would not look inside.
        check.unknown += [(Path(folder) / d).relative_to(out).as_posix() for d in dirs if (Path(folder) / d).is_symlink()]
        for name in sorted(files):
            path = Path(folder) / name
            rel = path.relative_to(out).as_posix()
            tmp = _TMP.match(name)
            if tmp is not None:
                if not _pid_alive(int(tmp.group(1))):
                    leftovers.append(path)
                continue
            if rel in listed or (rel == MANIFEST_FILE and check.previous is not None):
                continue
            check.unknown.append(rel)
    if check.unknown and not force:
        shown = ", ".join(check.unknown[:UNKNOWN_SHOWN]) + (", ..." if len(check.unknown) > UNKNOWN_SHOWN else "")
        what = "another program's manifest.json" if manifest_there and check.previous is None else "files"
        raise ExportError(
            f"{out} holds {what} Celstudio did not write ({len(check.unknown)}: {shown}); export into a new "
            "or empty folder, or add --force to export alongside them (they are never deleted)."
        )
    for path in leftovers:
        try:
            path.unlink()
            check.removed_leftovers.append(path.relative_to(out).as_posix())
        except OSError:
            pass  # it vanished meanwhile, or cannot be removed: it is still never listed as output
    if manifest_there and check.previous is None:
        check.moved_aside = _move_aside(manifest_path)
    return check


def _move_aside(path: Path) -> str:
    """Rename a foreign ``manifest.json`` to a free ``manifest.json.orig[-N]`` so ours can take its name."""
    for n in range(1000):
        target = path.with_name(f"{path.name}.orig" + (f"-{n}" if n else ""))
        if not target.exists():
            os.replace(path, target)
            return target.name
    raise ExportError(f"Cannot move the foreign {path.name} in {path.parent} aside; export into a new folder.")


def ensure_space(out: Path, nbytes: int, what: str = "the export") -> None:
    """Raise `ExportError` unless the disk holding ``out`` has ``nbytes`` plus a reserve free."""
    try:
        free = shutil.disk_usage(out).free
    except OSError:
        return  # cannot tell here; a real ENOSPC is still caught and reported
    if free < nbytes + SPACE_RESERVE:
        raise ExportError(
            f"Not enough free space in {out} for {what}: it needs about {_mb(nbytes + SPACE_RESERVE)} MB "
            f"and the disk has {_mb(free)} MB free; free some space and run it again to resume."
        )


def disk_full_error(out: Path, done: int, total: int, needed: int) -> ExportError:
    """The one-line error for an ENOSPC in the middle of an export."""
    return ExportError(
        f"The disk holding {out} is full; the export stopped after {done} of {total} frames and needs about "
        f"{_mb(needed)} MB more - free some space and run it again to resume (the folder is marked unfinished)."
    )


def _mb(n: int) -> int:
    return max(1, -(-int(n) // (1 << 20)))


__all__ = ["FolderCheck", "check_output_folder", "disk_full_error", "ensure_space", "is_celstudio_manifest",
           "read_journal"]
