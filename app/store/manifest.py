"""The project manifest: what the project is made of, as schema-versioned JSON.

Writes are atomic (write ``project.json.tmp``, fsync, ``os.replace``), so a crash leaves either the
old or the new manifest, never half of one.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from app.errors import ProjectError

SCHEMA_VERSION = 1
MANIFEST_NAME = "project.json"


@dataclass
class SourceInfo:
    """Where the frames come from. ``gop`` is the largest keyframe interval seen at import."""

    kind: Literal["video", "images", "generated"]
    path: str
    content_hash: str
    codec: str = ""
    pix_fmt: str = ""
    gop: int = 0


@dataclass
class Shot:
    """Frames ``[start, end)`` between two hard cuts."""

    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start

    def __contains__(self, frame: object) -> bool:
        return isinstance(frame, int) and self.start <= frame < self.end


@dataclass
class ObjectInfo:
    """An object id (1..255) in the label maps, with what the user sees of it."""

    id: int
    name: str
    kind: str = "character"
    color: tuple[int, int, int] = (255, 80, 80)
    identity: str | None = None
    confirmed: bool = False  # the user named or confirmed it; exports flag the others
    # The kind it was found (or added) as, kept once the user changes its kind (`ObjectStore.set_kind`);
    # None while unchanged. Stage results name only the kinds that differ from it (`graph.kinds_input`),
    # so results made before any change stay fresh and an undo makes them fresh again.
    found_kind: str | None = None


@dataclass
class TrackLink:
    """Which project object a segment track of one shot is, frame by frame.

    ``shot`` is the shot's first frame, ``track`` the segmenter's per-shot id (1..255). ``pieces`` are
    ``[first_frame, object_id]`` in frame order: the track is that object from ``first_frame`` until
    the next piece (a reassignment "from here to the end of the shot"); object 0 means deleted there.
    """

    shot: int
    track: int
    pieces: list[list[int]] = field(default_factory=list)

    def object_at(self, frame: int) -> int:
        current = 0
        for start, obj in self.pieces:
            if start <= frame:
                current = obj
        return current


@dataclass
class Manifest:
    """Everything about a project that is not per-frame data."""

    name: str
    source: SourceInfo
    frame_count: int
    width: int
    height: int
    fps: float
    shots: list[Shot] = field(default_factory=list)
    objects: list[ObjectInfo] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    tracks: list[TrackLink] = field(default_factory=list)
    objects_seq: int = 0  # the last journal entry whose object edit this manifest holds

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        version = int(data.get("schema_version", 0))
        if version > SCHEMA_VERSION:
            raise ProjectError(
                f"This project was saved by a newer Celstudio (schema {version}; this version reads up "
                f"to {SCHEMA_VERSION}). Update Celstudio to open it."
            )
        try:
            return cls(
                name=str(data["name"]),
                source=SourceInfo(**data["source"]),
                frame_count=int(data["frame_count"]),
                width=int(data["width"]),
                height=int(data["height"]),
                fps=float(data["fps"]),
                shots=[Shot(**s) for s in data.get("shots", [])],
                objects=[
                    ObjectInfo(**{**o, "color": tuple(o.get("color", (255, 80, 80)))})
                    for o in data.get("objects", [])
                ],
                settings=dict(data.get("settings", {})),
                schema_version=version,
                tracks=[
                    TrackLink(int(t["shot"]), int(t["track"]), [[int(a), int(b)] for a, b in t.get("pieces", [])])
                    for t in data.get("tracks", [])
                ],
                objects_seq=int(data.get("objects_seq", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProjectError(f"The project manifest is missing or has a bad field ({exc}).") from exc


def read_manifest(root: Path) -> Manifest:
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise ProjectError(f"{root} is not a Celstudio project (no {MANIFEST_NAME}).")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProjectError(f"The project manifest {path} cannot be read ({exc}).") from exc
    if not isinstance(data, dict):
        raise ProjectError(f"The project manifest {path} is not a JSON object.")
    manifest = Manifest.from_dict(data)
    validate_manifest(manifest)
    return manifest


MAX_SIDE = 16384  # far above any video Celstudio imports; a larger side is a damaged manifest
MAX_FRAMES = 10_000_000


def validate_manifest(m: Manifest) -> None:
    """Refuse a manifest whose numbers cannot describe a project, naming the bad field in one line:
    sizes and frame count in range, shots covering ``[0, frame_count)`` exactly, in order, without
    gaps or overlaps, and object ids and colours in range."""

    def bad(field_name: str, why: str) -> ProjectError:
        return ProjectError(f"The project manifest {MANIFEST_NAME} has a bad field '{field_name}': {why}.")

    if not 1 <= m.frame_count <= MAX_FRAMES:
        raise bad("frame_count", f"{m.frame_count} is not between 1 and {MAX_FRAMES}")
    for name, value in (("width", m.width), ("height", m.height)):
        if not 1 <= value <= MAX_SIDE:
            raise bad(name, f"{value} is not between 1 and {MAX_SIDE}")
    if not (m.fps > 0 and m.fps < 1000):  # also refuses NaN
        raise bad("fps", f"{m.fps} is not a frame rate")
    expected = 0
    for i, shot in enumerate(m.shots):
        if not isinstance(shot.start, int) or not isinstance(shot.end, int):
            raise bad(f"shots[{i}]", "start and end must be whole numbers")
        if shot.start != expected:
            what = "overlaps the shot before it" if shot.start < expected else "leaves a gap before it"
            raise bad(f"shots[{i}]", f"[{shot.start}, {shot.end}) {what} (expected start {expected})")
        if shot.end <= shot.start:
            raise bad(f"shots[{i}]", f"[{shot.start}, {shot.end}) is empty or reversed")
        expected = shot.end
    if m.shots and expected != m.frame_count:
        raise bad("shots", f"they cover [0, {expected}) but the project has {m.frame_count} frames")
    seen: set[int] = set()
    for i, obj in enumerate(m.objects):
        if not isinstance(obj.id, int) or not 1 <= obj.id <= 255 or obj.id in seen:
            raise bad(f"objects[{i}].id", f"{obj.id!r} is not a free id in 1..255")
        seen.add(obj.id)
        if len(obj.color) != 3 or not all(isinstance(c, int) and 0 <= c <= 255 for c in obj.color):
            raise bad(f"objects[{i}].color", f"{list(obj.color)} is not an RGB colour")


def check_stored_shapes(m: Manifest, shapes: dict[str, tuple[int, ...]], file_name: str) -> None:
    """Refuse a manifest whose frame count or size disagrees with arrays already stored (e.g. width
    and height swapped by hand), before any write can fail on it."""
    for name, shape in shapes.items():
        if len(shape) < 3:
            continue
        if shape[0] != m.frame_count:
            raise ProjectError(
                f"The project manifest {MANIFEST_NAME} has a bad field 'frame_count': {m.frame_count}, "
                f"but {file_name} holds {shape[0]} frames of {name}."
            )
        if tuple(shape[1:3]) != (m.height, m.width):
            raise ProjectError(
                f"The project manifest {MANIFEST_NAME} has bad fields 'width'/'height': {m.width}x{m.height}, "
                f"but {file_name} holds {name} of {shape[2]}x{shape[1]}."
            )


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old file or the new one, never a mix."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
