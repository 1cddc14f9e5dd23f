"""The export manifest and the atomic, resumable file writer.

``manifest.json`` lists every file of an export: its path, sha256, size, the frame/shot/object it came
from, the backends and versions that made its layers, and a ``key`` - a hash of everything the file is
made from (format, options, layer versions, names). A re-run whose key matches an entry whose file is
still there skips it without rendering it, so an interrupted export resumes and
re-exporting an unchanged project writes nothing (the manifest itself is only rewritten if it changed).
"Still there" means the bytes on disk have the recorded sha256: a file changed or damaged since is
written again. Files of earlier runs that an export no longer contains are deleted only while they
still hold the bytes Celstudio wrote. The manifest says ``complete: false`` from the first write of
a run until its end, so a folder left by a killed or failed run is marked unfinished.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.export.folder import GENERATOR, JOURNAL_FILE, ensure_space, is_celstudio_manifest, read_journal
from app.export.naming import ExportError, resolve_inside
from models.download import file_digest

MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1
SAVE_EVERY = 64  # files between manifest checkpoints, so a crash loses at most this much work


def digest(value: Any) -> str:
    """A stable sha256 of JSON-able ``value`` (the key of an output)."""
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``path`` via a temporary sibling and ``os.replace``: readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def file_sha256(path: Path) -> str:
    return file_digest(path)


def on_disk_matches(path: Path, entry: dict[str, Any]) -> bool:
    """True when ``path`` holds exactly the bytes a manifest ``entry`` recorded (size, then sha256)."""
    try:
        if not path.is_file() or path.stat().st_size != int(entry.get("size", -1)):
            return False
        return file_sha256(path) == entry.get("sha256")
    except (OSError, ValueError, TypeError):
        return False


class ExportWriter:
    """Writes the files of one export into ``out`` and keeps ``manifest.json`` up to date.

    Parameters
    ----------
    out : Path
        The output folder (created if missing).
    header : dict
        Export-wide facts (format, options, project) stored at the top of the manifest.
    """

    def __init__(self, out: Path, header: dict[str, Any]) -> None:
        self.out = Path(out)
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(f"Cannot create the output folder {out} ({exc.strerror or exc}).") from exc
        self.header = header
        self.previous: dict[str, dict[str, Any]] = {}
        self._old_text = ""
        path = self.out / MANIFEST_FILE
        if path.is_file():
            try:
                text = path.read_text(encoding="utf-8")
                data = json.loads(text)
                if is_celstudio_manifest(data):  # another program's manifest lists nothing of ours
                    self._old_text = text
                    self.previous = {f["path"]: f for f in data["files"] if isinstance(f, dict) and "path" in f}
            except (OSError, ValueError, UnicodeDecodeError):
                self.previous = {}  # a damaged manifest only costs a full re-export
        for entry in read_journal(self.out):  # files a killed run wrote after its last checkpoint
            self.previous[entry["path"]] = entry
        self._marked_unfinished = False
        self.bytes_written = 0
        self.entries: dict[str, dict[str, Any]] = {}
        self.written = 0
        self.skipped = 0
        self.rewritten: list[str] = []  # listed with this key, but the bytes on disk no longer match
        self.kept: list[str] = []  # no longer exported, but changed since written: not ours to delete
        self._since_save = 0
        self._fresh: dict[tuple[str, str], bool] = {}

    def fresh(self, rel: str, key: str) -> bool:
        """True if ``rel`` from an earlier run has this key and its bytes on disk still have the recorded sha256."""
        old = self.previous.get(rel)
        if old is None or old.get("key") != key:
            return False
        hit = self._fresh.get((rel, key))
        if hit is None:
            hit = self._fresh[(rel, key)] = on_disk_matches(resolve_inside(self.out, rel), old)
            if not hit and resolve_inside(self.out, rel).exists():
                self.rewritten.append(rel)
        return hit

    def put(self, rel: str, key: str, produce: Callable[[], bytes], info: dict[str, Any]) -> bool:
        """Record ``rel``; write ``produce()`` only if it is not already fresh. Returns True if written."""
        if rel in self.entries:
            raise ExportError(f"Two exported files would share the name {rel!r}; rename an object.")
        if self.fresh(rel, key):
            self.entries[rel] = self.previous[rel]
            self.skipped += 1
            return False
        data = produce()
        ensure_space(self.out, len(data))
        entry = {**info, "path": rel, "key": key, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        self._before_write(entry)
        atomic_write(resolve_inside(self.out, rel), data)
        self.entries[rel] = entry
        self.written += 1
        self.bytes_written += len(data)
        self._since_save += 1
        if self._since_save >= SAVE_EVERY:
            self.save(partial=True)
        return True

    def adopt(self, rel: str, key: str, path_written: Path, info: dict[str, Any]) -> None:
        """Record a file the caller wrote itself (streamed, e.g. a tar shard) and move it into place."""
        target = resolve_inside(self.out, rel)
        digest = file_sha256(path_written)
        size = path_written.stat().st_size
        target.parent.mkdir(parents=True, exist_ok=True)
        entry = {**info, "path": rel, "key": key, "size": size, "sha256": digest}
        self._before_write(entry)
        os.replace(path_written, target)
        self.entries[rel] = entry
        self.written += 1
        self.bytes_written += size

    def _before_write(self, entry: dict[str, Any]) -> None:
        """Mark the export unfinished (once), then journal ``entry`` before its file takes its name."""
        if not self._marked_unfinished:
            self._marked_unfinished = True
            self.save(partial=True)
        line = json.dumps(entry, sort_keys=True, default=str) + "\n"
        with open(self.out / JOURNAL_FILE, "a", encoding="utf-8") as fh:
            fh.write(line)

    def _document(self, files: list[dict[str, Any]], complete: bool) -> str:
        # ``generator`` says these files are Celstudio's to replace; ``complete`` is False until the
        # last file and this manifest are written, so a folder left by a failed run says so.
        doc = {"manifest_version": MANIFEST_VERSION, **self.header, "generator": GENERATOR, "complete": complete,
               "files": files}
        return json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n"

    def save(self, *, partial: bool = False) -> None:
        """Write the manifest. A partial save keeps earlier entries not yet revisited (resume-safe)."""
        files = dict(self.previous) if partial else {}
        files.update(self.entries)
        text = self._document([files[k] for k in sorted(files)], complete=not partial)
        if text != self._old_text:
            atomic_write(self.out / MANIFEST_FILE, text.encode("utf-8"))
            self._old_text = text
        # Every journalled entry is in the manifest now (partial saves keep earlier ones too).
        (self.out / JOURNAL_FILE).unlink(missing_ok=True)
        self._since_save = 0

    def finish(self) -> list[str]:
        """Final manifest; delete files of earlier runs that this export no longer contains."""
        removed = []
        for rel in sorted(set(self.previous) - set(self.entries)):
            try:
                path = resolve_inside(self.out, rel)
            except ExportError:
                continue
            if not path.is_file():
                continue
            if on_disk_matches(path, self.previous[rel]):
                path.unlink()
                removed.append(rel)
            else:
                self.kept.append(rel)  # changed by someone since the export wrote it
        self.save()
        return removed
