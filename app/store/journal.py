"""The correction journal: an append-only, fsync'd log of every user edit.

The journal, not the HDF5 file, is the source of truth for corrections. Each record is
``[u32 length][u32 crc32][JSON payload]``; a record is confirmed once ``append`` returns (after
``os.fsync``). A crash can leave at most one torn record at the tail, which the reader detects by its
length or CRC and cuts off. Label maps inside records are PNG-encoded (lossless, small for flat maps).
"""

from __future__ import annotations

import base64
import json
import os
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

from app.errors import ProjectError

_HEADER = struct.Struct("<II")
_MAX_RECORD = 1 << 30


@dataclass
class MaskEdit:
    """One frame's label map before and after an edit; ``source`` marks who made the result.

    Storing whole label maps (not a diff) makes replay idempotent and undo exact even where the edit
    took pixels from another object.
    """

    frame: int
    before: NDArray[np.uint8]
    after: NDArray[np.uint8]
    object_id: int = 0
    source: str = "user"  # "user" frames are permanent memory for propagation; "accepted" are not
    before_source: str = "pipeline"

    def inverse(self) -> MaskEdit:
        return MaskEdit(
            self.frame, self.after, self.before, self.object_id, self.before_source, self.source
        )


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


def _encode_labels(labels: NDArray[np.uint8]) -> str:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(labels, dtype=np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ProjectError("A mask could not be encoded for the journal.")
    return base64.b64encode(buf.tobytes()).decode("ascii")


def _decode_labels(text: str) -> NDArray[np.uint8]:
    buf = np.frombuffer(base64.b64decode(text), dtype=np.uint8)
    labels = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if labels is None:
        raise ValueError("undecodable mask")
    return np.asarray(labels, dtype=np.uint8)


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
                    "before": _encode_labels(e.before),
                    "after": _encode_labels(e.after),
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
    """Append-only log of `JournalEntry` records in ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.entries: list[JournalEntry] = []
        self.torn_bytes = 0  # bytes cut off a torn tail when the journal was opened
        self._load()

    @property
    def last_seq(self) -> int:
        return self.entries[-1].seq if self.entries else 0

    def _load(self) -> None:
        if not self.path.exists():
            self.path.touch()
            return
        good_end = 0
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise ProjectError(f"The correction journal {self.path} cannot be read ({exc}).") from exc
        for end, entry in _iter_records(raw):
            self.entries.append(entry)
            good_end = end
        if good_end < len(raw):
            # A torn record from a crash mid-append: it was never confirmed, so cutting it loses nothing.
            self.torn_bytes = len(raw) - good_end
            with open(self.path, "r+b") as fh:
                fh.truncate(good_end)
                fh.flush()
                os.fsync(fh.fileno())

    def append(self, kind: str, edits: list[MaskEdit], payload: dict[str, Any] | None = None) -> JournalEntry:
        """Write a record and fsync it; the correction is confirmed when this returns."""
        with self._lock:
            entry = JournalEntry(self.last_seq + 1, kind, edits, dict(payload or {}), time.time())
            body = _entry_to_json(entry)
            record = _HEADER.pack(len(body), zlib.crc32(body)) + body
            with open(self.path, "ab") as fh:
                fh.write(record)
                fh.flush()
                os.fsync(fh.fileno())
            self.entries.append(entry)
            return entry

    def __iter__(self) -> Iterator[JournalEntry]:
        return iter(list(self.entries))

    def since(self, seq: int) -> list[JournalEntry]:
        return [e for e in self.entries if e.seq > seq]


def _iter_records(raw: bytes) -> Iterator[tuple[int, JournalEntry]]:
    pos = 0
    while pos + _HEADER.size <= len(raw):
        length, crc = _HEADER.unpack_from(raw, pos)
        start = pos + _HEADER.size
        end = start + length
        if length > _MAX_RECORD or end > len(raw):
            return
        body = raw[start:end]
        if zlib.crc32(body) != crc:
            return
        try:
            entry = _entry_from_json(body)
        except (ValueError, KeyError, TypeError):
            return
        yield end, entry
        pos = end


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
