"""What a correction is: `MaskEdit`, one frame's label map before and after an edit, and
`JournalEntry`, one journalled edit (its sequence number, kind, edits and payload).

Label maps are kept packed, in the form the journal writes them: run-length coded (a 1080p map packs
and unpacks in a few ms, where PNG took ~100 ms to encode - twice per click), or PNG for a map too
busy for runs. Both are lossless and small for flat maps; journals hold either.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from app.errors import ProjectError


class MaskEdit:
    """One frame's label map before and after an edit; ``source`` marks who made the result.

    Storing whole label maps (not a diff) makes replay idempotent and undo exact even where the edit
    took pixels from another object. They are kept as the packed bytes the journal writes
    (`encode_labels`: a flat 1080p label map is a few KB instead of 2 MB), so a long undo history -
    deleting an object across thousands of frames - stays small in memory; `before` and `after`
    decode on access.
    """

    __slots__ = ("_after", "_before", "before_source", "frame", "object_id", "source")

    def __init__(
        self, frame: int, before: NDArray[np.uint8] | bytes, after: NDArray[np.uint8] | bytes,
        object_id: int = 0, source: str = "user", before_source: str = "pipeline",
    ) -> None:
        self.frame = frame
        self._before = before if isinstance(before, bytes) else encode_labels(before)
        self._after = after if isinstance(after, bytes) else encode_labels(after)
        self.object_id = object_id
        self.source = source  # "user" frames are permanent memory for propagation; "accepted" are not
        self.before_source = before_source

    @property
    def before(self) -> NDArray[np.uint8]:
        return decode_labels(self._before)

    @property
    def after(self) -> NDArray[np.uint8]:
        return decode_labels(self._after)

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


_RUNS = b"CRL1"  # run-length packed label map (a PNG starts with 0x89 "PNG")
_RUNS_HEAD = struct.Struct("<4sIII")  # magic, height, width, run count
# Past this many runs per pixel a map is noise-like: PNG's filters pack it smaller than runs do.
_MAX_RUN_SHARE = 1 / 16


def encode_labels(labels: NDArray[np.uint8]) -> bytes:
    """``labels`` packed losslessly: runs over the flattened map (values, then uint32 lengths,
    deflated at level 1), or PNG for a map with too many runs."""
    labels = np.ascontiguousarray(labels, dtype=np.uint8)
    if labels.ndim != 2 or labels.size == 0:
        return encode_label_png(labels)
    flat = labels.ravel()
    starts = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    if starts.size + 1 > max(64, flat.size * _MAX_RUN_SHARE):
        return encode_label_png(labels)
    starts = np.concatenate(([0], starts))
    lengths = np.diff(np.append(starts, flat.size)).astype("<u4")
    body = zlib.compress(flat[starts].tobytes() + lengths.tobytes(), 1)
    return _RUNS_HEAD.pack(_RUNS, labels.shape[0], labels.shape[1], starts.size) + body


def decode_labels(data: bytes) -> NDArray[np.uint8]:
    """A label map packed by `encode_labels` (runs or PNG); ValueError when the bytes are damaged."""
    if not data.startswith(_RUNS):
        return decode_label_png(data)
    if len(data) < _RUNS_HEAD.size:
        raise ValueError("undecodable mask")
    _, h, w, count = _RUNS_HEAD.unpack_from(data)
    try:
        raw = zlib.decompress(data[_RUNS_HEAD.size:])
    except zlib.error as exc:
        raise ValueError("undecodable mask") from exc
    if len(raw) != 5 * count:
        raise ValueError("undecodable mask")
    values = np.frombuffer(raw, np.uint8, count)
    lengths = np.frombuffer(raw, "<u4", count, offset=count)
    if int(lengths.sum(dtype=np.int64)) != h * w:
        raise ValueError("undecodable mask")
    return np.repeat(values, lengths).reshape(h, w)


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


# Payload keys that name an object: an edit's object, a merge's two, a reassignment's target.
ID_KEYS = ("object_id", "object", "keep", "absorb", "to")


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

    @property
    def object_diff(self) -> dict[str, Any]:
        """The objects and track links the entry changed (`app.store.objects`); empty when it has none."""
        diff = self.payload.get("diff")
        return diff if isinstance(diff, dict) else {}

    def named_objects(self) -> set[int]:
        """The objects the entry names: in its payload (`ID_KEYS`), in its object diff's rows and as
        its mask edits' objects (never 0, the background)."""
        ids = {int(v) for k in ID_KEYS if isinstance(v := self.payload.get(k), int)}
        ids.update(int(oid) for oid, *_ in self.object_diff.get("objects", []))
        ids.update(int(e.object_id) for e in self.edits)
        ids.discard(0)
        return ids

