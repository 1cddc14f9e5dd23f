"""The correction journal: an append-only, fsync'd log of every user edit.

The journal, not the HDF5 file, is the source of truth for corrections. A record is confirmed once
``append`` returns (after ``os.fsync``). Label maps inside records are PNG-encoded (lossless, small for
flat maps).

Record formats (both are read; only version 2 is written):

- version 1: ``[u32 length][u32 crc32][JSON payload]``.
- version 2: ``MARKER [u32 length][u32 crc32(payload)][u32 crc32(header)][JSON payload]``. The
  marker holds a byte (0xff) that never occurs in the ASCII-only JSON payload, so after a damaged
  record the reader finds the next record by searching for the marker (a resync), and every record
  after the damage survives. Version-1 records resync on their payload's fixed opening ``{"seq":``.

Reading never writes. A torn record at the tail (a crash mid-append: never confirmed) is ignored on
read and cut off, after the file is copied aside, before the next append; damage anywhere else is
reported (`Journal.damaged`) and skipped, and `Journal.repair` rewrites the journal without it only
after copying the damaged file aside.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import shutil
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from app.errors import DiskFull, ProjectError

_HEADER = struct.Struct("<II")  # version 1: length, crc32(payload)
MARKER = b"\xffCJ\x02"  # version 2 (the last byte); 0xff never occurs in ASCII JSON
_HEADER2 = struct.Struct("<4sIII")  # marker, length, crc32(payload), crc32(first 12 header bytes)
_V1_OPENING = b'{"seq":'
_MAX_RECORD = 1 << 30


@dataclass(frozen=True)
class DamagedSpan:
    """Bytes ``[start, end)`` of the journal that hold no readable record."""

    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start


class MaskEdit:
    """One frame's label map before and after an edit; ``source`` marks who made the result.

    Storing whole label maps (not a diff) makes replay idempotent and undo exact even where the edit
    took pixels from another object. They are kept as the lossless PNG bytes the journal writes (a
    flat 1080p label map is ~15 KB instead of 2 MB), so a long undo history - deleting an object
    across thousands of frames - stays small in memory; `before` and `after` decode on access.
    """

    __slots__ = ("_after", "_before", "before_source", "frame", "object_id", "source")

    def __init__(
        self, frame: int, before: NDArray[np.uint8] | bytes, after: NDArray[np.uint8] | bytes,
        object_id: int = 0, source: str = "user", before_source: str = "pipeline",
    ) -> None:
        self.frame = frame
        self._before = before if isinstance(before, bytes) else encode_label_png(before)
        self._after = after if isinstance(after, bytes) else encode_label_png(after)
        self.object_id = object_id
        self.source = source  # "user" frames are permanent memory for propagation; "accepted" are not
        self.before_source = before_source

    @property
    def before(self) -> NDArray[np.uint8]:
        return decode_label_png(self._before)

    @property
    def after(self) -> NDArray[np.uint8]:
        return decode_label_png(self._after)

    @property
    def before_png(self) -> bytes:
        return self._before

    @property
    def after_png(self) -> bytes:
        return self._after

    def inverse(self) -> MaskEdit:
        return MaskEdit(self.frame, self._after, self._before, self.object_id, self.before_source, self.source)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MaskEdit):
            return NotImplemented
        return (self.frame, self.object_id, self.source, self.before_source) == (
            other.frame, other.object_id, other.source, other.before_source
        ) and np.array_equal(self.before, other.before) and np.array_equal(self.after, other.after)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"MaskEdit(frame={self.frame}, object_id={self.object_id}, source={self.source!r}, "
                f"before_source={self.before_source!r}, {len(self._before) + len(self._after)} bytes)")


def encode_label_png(labels: NDArray[np.uint8]) -> bytes:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(labels, dtype=np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ProjectError("A mask could not be encoded for the journal.")
    return bytes(buf.tobytes())


def decode_label_png(data: bytes) -> NDArray[np.uint8]:
    labels = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if labels is None:
        raise ValueError("undecodable mask")
    return np.asarray(labels, dtype=np.uint8)


@dataclass
class JournalEntry:
    seq: int
    kind: str
    edits: list[MaskEdit]
    payload: dict[str, Any] = field(default_factory=dict)
    time: float = 0.0

    @property
    def frames(self) -> tuple[int, ...]:
        return tuple(sorted({e.frame for e in self.edits}))


def _encode_labels(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _decode_labels(text: str) -> bytes:
    """The PNG bytes of a journalled label map, checked to decode (a damaged record fails here)."""
    data = base64.b64decode(text)
    decode_label_png(data)
    return data


def _entry_to_json(entry: JournalEntry) -> bytes:
    return json.dumps(
        {
            "seq": entry.seq,
            "kind": entry.kind,
            "time": entry.time,
            "payload": entry.payload,
            "edits": [
                {
                    "frame": e.frame,
                    "object_id": e.object_id,
                    "source": e.source,
                    "before_source": e.before_source,
                    "before": _encode_labels(e.before_png),
                    "after": _encode_labels(e.after_png),
                }
                for e in entry.edits
            ],
        },
        separators=(",", ":"),
    ).encode("utf-8")


def _entry_from_json(data: bytes) -> JournalEntry:
    obj = json.loads(data)
    return JournalEntry(
        seq=int(obj["seq"]),
        kind=str(obj["kind"]),
        time=float(obj.get("time", 0.0)),
        payload=dict(obj.get("payload", {})),
        edits=[
            MaskEdit(
                frame=int(e["frame"]),
                object_id=int(e.get("object_id", 0)),
                source=str(e.get("source", "user")),
                before_source=str(e.get("before_source", "pipeline")),
                before=_decode_labels(e["before"]),
                after=_decode_labels(e["after"]),
            )
            for e in obj.get("edits", [])
        ],
    )


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


def encode_record(entry: JournalEntry) -> bytes:
    """A version-2 record: marker, length, payload CRC, header CRC, payload."""
    body = _entry_to_json(entry)
    head = struct.pack("<4sII", MARKER, len(body), zlib.crc32(body))
    return head + struct.pack("<I", zlib.crc32(head)) + body


def encode_record_v1(entry: JournalEntry) -> bytes:
    """A version-1 record, as journals written before version 2 hold them (tests of old journals)."""
    body = _entry_to_json(entry)
    return _HEADER.pack(len(body), zlib.crc32(body)) + body


def _read_at(raw: bytes, pos: int) -> tuple[int, JournalEntry] | None:
    """The record starting at ``pos`` (either version) and where it ends, or None if unreadable."""
    if raw.startswith(MARKER, pos):
        if pos + _HEADER2.size > len(raw):
            return None
        _, length, crc, head_crc = _HEADER2.unpack_from(raw, pos)
        if zlib.crc32(raw[pos : pos + 12]) != head_crc:
            return None
        start = pos + _HEADER2.size
    else:
        if pos + _HEADER.size > len(raw):
            return None
        length, crc = _HEADER.unpack_from(raw, pos)
        start = pos + _HEADER.size
        if not raw.startswith(_V1_OPENING, start):
            return None
    end = start + length
    if length > _MAX_RECORD or end > len(raw):
        return None
    body = raw[start:end]
    if zlib.crc32(body) != crc:
        return None
    try:
        return end, _entry_from_json(body)
    except (ValueError, KeyError, TypeError):
        return None


def _next_candidate(raw: bytes, pos: int) -> int:
    """The next offset after ``pos`` where a record of either version may start (len(raw) if none)."""
    found = []
    marker = raw.find(MARKER, pos + 1)
    if marker >= 0:
        found.append(marker)
    v1 = raw.find(_V1_OPENING, pos + 1 + _HEADER.size)
    if v1 >= 0:
        found.append(v1 - _HEADER.size)
    return min(found) if found else len(raw)


def scan(raw: bytes) -> tuple[list[JournalEntry], list[DamagedSpan], bool]:
    """Every readable record in ``raw``, the damaged spans between them, and whether the last span
    is a tail (no readable record after it)."""
    entries: list[JournalEntry] = []
    damaged: list[DamagedSpan] = []
    seen: set[int] = set()
    pos = 0
    bad_from: int | None = None
    while pos < len(raw):
        got = _read_at(raw, pos)
        if got is None:
            if bad_from is None:
                bad_from = pos
            pos = _next_candidate(raw, pos)
            continue
        if bad_from is not None:
            damaged.append(DamagedSpan(bad_from, pos))
            bad_from = None
        end, entry = got
        if entry.seq not in seen:  # a record found twice would replay twice
            seen.add(entry.seq)
            entries.append(entry)
        pos = end
    tail = bad_from is not None
    if bad_from is not None:
        damaged.append(DamagedSpan(bad_from, len(raw)))
    return entries, damaged, tail


class UndoHistory:
    """Undo/redo stacks derived from the journal, so history survives a restart.

    ``undo`` and ``redo`` entries carry ``payload["target"]``, the seq of the entry they revert or
    re-apply; any other edit clears the redo stack, as in every editor.
    """

    def __init__(self) -> None:
        self.done: list[int] = []
        self.undone: list[int] = []

    def observe(self, entry: JournalEntry) -> None:
        target = entry.payload.get("target")
        if entry.kind == "undo" and isinstance(target, int):
            if target in self.done:
                self.done.remove(target)
            self.undone.append(target)
        elif entry.kind == "redo" and isinstance(target, int):
            if target in self.undone:
                self.undone.remove(target)
            self.done.append(target)
        elif entry.edits or entry.payload.get("undoable"):
            self.done.append(entry.seq)
            self.undone.clear()
