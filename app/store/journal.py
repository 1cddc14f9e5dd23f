"""The correction journal: an append-only, fsync'd log of every user edit.

The journal, not the HDF5 file, is the source of truth for corrections. A record is confirmed once
``append`` returns (after ``os.fsync``). What a record holds is in `app.store.edits`, how it is laid
out in the file (and found again after damage) in `app.store.journal_format`.

Reading never writes. A torn record at the tail (a crash mid-append: never confirmed) is ignored on
read and cut off, after the file is copied aside, before the next append; damage anywhere else is
reported (`Journal.damaged`) and skipped, and `Journal.repair` rewrites the journal without it only
after copying the damaged file aside.
"""

from __future__ import annotations

import errno
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.errors import DiskFull, ProjectError
from app.store.edits import JournalEntry, MaskEdit
from app.store.journal_format import DamagedSpan, encode_record, scan

# The label-map codecs are imported from here by the interactive corrections (app.pipeline.interactive).
__all__ = ["JOURNAL_FILE", "Journal", "JournalEntry", "MaskEdit", "UndoHistory"]

JOURNAL_FILE = "journal.log"


class Journal:
    """Append-only log of `JournalEntry` records in ``path``.

    ``read_only`` journals never touch the file (``info`` and ``export`` read while the app writes).
    """

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self._lock = threading.Lock()
        self.entries: list[JournalEntry] = []
        self.damaged: list[DamagedSpan] = []  # unreadable bytes between readable records
        self.torn_bytes = 0  # bytes of an unfinished record at the tail (a crash mid-append)
        self._size = 0  # bytes read; appends go after them once a torn tail is cut
        self.copied_to: Path | None = None  # where a damaged journal was copied before a repair
        self._load()

    @property
    def last_seq(self) -> int:
        return max((e.seq for e in self.entries), default=0)

    @property
    def damaged_bytes(self) -> int:
        return sum(len(span) for span in self.damaged)

    def damage_report(self) -> str:
        """One sentence about unreadable records, or "" when the journal is whole."""
        if not self.damaged:
            return ""
        where = ", ".join(f"{s.start}..{s.end}" for s in self.damaged[:3]) + (" ..." if len(self.damaged) > 3 else "")
        return (
            f"The correction journal {self.path.name} has {len(self.damaged)} damaged region(s) "
            f"({self.damaged_bytes} bytes at {where}); they were skipped and the {len(self.entries)} "
            "readable corrections around them were kept."
        )

    def _load(self) -> None:
        if not self.path.exists():
            if not self.read_only:
                self.path.touch()
            return
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise ProjectError(f"The correction journal {self.path} cannot be read ({exc.strerror or exc}).") from exc
        self._size = len(raw)
        self.entries, self.damaged, tail = scan(raw)
        # Damage running to the end of the file with no record after it is a torn tail: the last
        # append was cut by a crash before it was confirmed, so nothing confirmed is in it.
        if tail:
            self.torn_bytes = len(self.damaged.pop())

    def append(self, kind: str, edits: list[MaskEdit], payload: dict[str, Any] | None = None) -> JournalEntry:
        """Write a record and fsync it; the correction is confirmed when this returns.

        A full disk raises `DiskFull` and leaves the journal as it was (the correction is not confirmed).
        """
        if self.read_only:
            raise ProjectError("This project is open read-only; corrections cannot be saved.")
        with self._lock:
            entry = JournalEntry(self.last_seq + 1, kind, edits, dict(payload or {}), time.time())
            record = encode_record(entry)
            try:
                if self.torn_bytes:
                    self._cut_torn_tail()
                with open(self.path, "ab") as fh:
                    start = fh.tell()  # the end of the file: an append never overwrites a byte
                    try:
                        fh.write(record)
                        fh.flush()
                        os.fsync(fh.fileno())
                    except OSError:
                        # Our own unconfirmed bytes: take them back so the next append starts clean.
                        fh.truncate(start)
                        raise
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise DiskFull(
                        f"The correction was not saved: the disk holding {self.path.parent} is full "
                        f"(it needs {len(record) // 1024 + 1} KiB more); free some space and try again."
                    ) from exc
                raise ProjectError(
                    f"The correction was not saved: {self.path} cannot be written ({exc.strerror or exc})."
                ) from exc
            self._size = start + len(record)
            self.entries.append(entry)
            return entry

    def _cut_torn_tail(self) -> None:
        """Drop an unconfirmed torn record before appending, after keeping a copy of the file."""
        self._copy_aside()
        with open(self.path, "r+b") as fh:
            fh.truncate(self._size - self.torn_bytes)
            fh.flush()
            os.fsync(fh.fileno())
        self._size -= self.torn_bytes
        self.torn_bytes = 0

    def _copy_aside(self) -> Path:
        if self.copied_to is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            target = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
            n = 1
            while target.exists():
                target = self.path.with_name(f"{self.path.name}.damaged-{stamp}-{n}")
                n += 1
            shutil.copy2(self.path, target)
            self.copied_to = target
        return self.copied_to

    def repair(self) -> Path | None:
        """Rewrite the journal with only its readable records (all in the current format), after
        copying the damaged file aside; returns the copy, or None when there was nothing to repair."""
        if self.read_only:
            raise ProjectError("This project is open read-only; the journal cannot be repaired.")
        if not self.damaged and not self.torn_bytes:
            return None
        from app.store.manifest import atomic_write_bytes

        with self._lock:
            copy = self._copy_aside()
            data = b"".join(encode_record(e) for e in self.entries)
            atomic_write_bytes(self.path, data)
            self._size, self.damaged, self.torn_bytes = len(data), [], 0
            return copy

    def __iter__(self) -> Iterator[JournalEntry]:
        return iter(list(self.entries))

    def since(self, seq: int) -> list[JournalEntry]:
        return [e for e in self.entries if e.seq > seq]


class UndoHistory:
    """Undo/redo stacks derived from the journal, so history survives a restart.

    ``undo`` and ``redo`` entries carry ``payload["target"]``, the seq of the entry they revert or
    re-apply; any other edit of the user's clears the redo stack, as in every editor. The app's own
    entries (``payload["undoable"]`` false: registration, its merges, dropping unseen objects) are
    journalled but are neither on the stacks nor clear the redo stack; what undo and redo restore is
    mapped through the app's merges (`app.store.app_merges`). An entry without the flag is the user's
    when it has mask edits. A ``retire`` entry takes the edits a re-run replaced off both stacks
    (`app.store.retire`).
    """

    def __init__(self) -> None:
        self.done: list[int] = []
        self.undone: list[int] = []
        self._app: set[int] = set()  # seqs of the app's own entries

    def observe(self, entry: JournalEntry) -> None:
        target = entry.payload.get("target")
        if entry.kind == "retire":  # what a re-run replaced leaves both stacks (`app.store.retire`)
            gone = {int(s) for s in entry.payload.get("retired", [])}
            self.done = [s for s in self.done if s not in gone]
            self.undone = [s for s in self.undone if s not in gone]
            self._app.add(entry.seq)
        elif entry.kind in ("undo", "redo") and isinstance(target, int):
            if target in self._app:  # a journal from before this rule undid an app merge: not the user's
                return
            if entry.kind == "undo":
                if target in self.done:
                    self.done.remove(target)
                self.undone.append(target)
            else:
                if target in self.undone:
                    self.undone.remove(target)
                self.done.append(target)
        elif entry.payload.get("undoable", bool(entry.edits)):
            self.done.append(entry.seq)
            self.undone.clear()
        else:
            self._app.add(entry.seq)
