"""Where a batch's episodes come from and where their projects go; Ray as an optional dependency."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.errors import CelstudioError, InputError
from app.sources.source import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from app.store import Project
from app.store.manifest import MANIFEST_NAME


class RayMissing(CelstudioError):
    """Ray (the ``cluster`` extra) is not installed."""


class BatchError(CelstudioError):
    """A batch cannot start (bad sources, an unreachable cluster)."""


def require_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RayMissing(
            "celstudio batch needs Ray: install the cluster extra with `pip install 'celstudio[cluster]'` "
            "(or `pip install ray`)."
        ) from exc
    return ray


def discover_sources(sources: list[Path]) -> list[Path]:
    """Episodes in ``sources``: video files, the video files inside folders (sorted by name), and
    image folders (a folder of frames is one episode)."""
    found: list[Path] = []
    for src in sources:
        src = Path(src).expanduser()
        if src.is_file():
            if src.suffix.lower() not in VIDEO_SUFFIXES:
                raise InputError(f"{src} is not a video file ({', '.join(sorted(VIDEO_SUFFIXES))}).")
            found.append(src.resolve())
        elif src.is_dir():
            videos = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            if videos:
                found.extend(p.resolve() for p in videos)
            elif any(p.suffix.lower() in IMAGE_SUFFIXES for p in src.iterdir()):
                found.append(src.resolve())
            else:
                raise InputError(f"{src} holds no video files and no images.")
        else:
            raise InputError(f"{src} does not exist.")
    if not found:
        raise InputError("No episodes to run: give video files or folders of them.")
    if len(set(found)) != len(found):
        raise InputError("An episode is given twice.")
    return found


def project_folders(sources: list[Path], projects: Path) -> list[Path]:
    """One project folder per episode, named after it (``name``, ``name-2`` ... when names clash)."""
    used: dict[str, int] = {}
    out = []
    for src in sources:
        stem = src.stem if src.is_file() else src.name
        used[stem] = used.get(stem, 0) + 1
        out.append(projects / (stem if used[stem] == 1 else f"{stem}-{used[stem]}"))
    return out


def open_or_import(src: Path, root: Path, progress: Callable[[int, int], None] | None = None) -> tuple[Project, bool]:
    """The episode's project, imported on the first run and re-used after that; True if imported now."""
    if (root / MANIFEST_NAME).exists():
        project = Project.open(root)
        if Path(project.manifest.source.path).resolve() != src:
            project.close()
            raise BatchError(f"{root} is a project of another source ({project.manifest.source.path}); use another --projects folder.")
        return project, False
    from app.ingest.importer import import_source

    return import_source(src, root, progress=progress), True
