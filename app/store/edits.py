"""What a correction is: `MaskEdit`, one frame's label map before and after an edit, and
`JournalEntry`, one journalled edit (its sequence number, kind, edits and payload).

Label maps are kept as lossless PNG bytes (small for flat maps), the form the journal writes them in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from app.errors import ProjectError


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

