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


@dataclass
class TrackLink:
    """Which project object a stage-1 track of one shot is, frame by frame.

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


def write_manifest(root: Path, manifest: Manifest) -> None:
    """Atomically replace ``root/project.json``."""
    atomic_write_text(root / MANIFEST_NAME, manifest.to_json())


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
    return Manifest.from_dict(data)


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
