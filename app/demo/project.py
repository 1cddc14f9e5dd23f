"""The demo project: generated shots written into a real project, with the ground truth beside it."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from pathlib import Path

from app.demo.generator import GeneratedVideo, generate_shots
from app.demo.groundtruth import GroundTruthWriter
from app.errors import ProjectError
from app.store import Manifest, Project, Shot, SourceInfo

GROUND_TRUTH_FILE = "ground_truth.h5"
DEMO_NAME = "demo"
GENERATOR_VERSION = 1  # bump when the generator's pictures change, so content hashes change too


def _content_hash(params: dict[str, object]) -> str:
    text = json.dumps({"generator": GENERATOR_VERSION, **params}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _manifest(video: GeneratedVideo, name: str, params: dict[str, object]) -> Manifest:
    starts = [*video.shot_starts, video.frame_count]
    source = SourceInfo(kind="generated", path=f"generated:seed={video.seed}", content_hash=_content_hash(params))
    # No objects: the cast is the generator's truth (in ground_truth.h5, read only by evaluation).
    # What the project knows of its characters comes from running the segment stage, as for any video.
    return Manifest(
        name=name, source=source, frame_count=video.frame_count, width=video.width, height=video.height,
        fps=video.fps, shots=[Shot(a, b) for a, b in itertools.pairwise(starts)],
        objects=[], settings={"demo": params},
    )


def create_demo_project(root: Path, *, seed: int = 0, width: int = 640, height: int = 360, shots: int = 4,
                        frames_per_shot: int = 24, character_dir: Path | None = None,
                        name: str = "Demo") -> Project:
    """Generate the demo deterministically and write it as a project at ``root`` (left open).

    Frames go into the project's media losslessly with proxies and thumbnails; the true shots go into
    the manifest, but not the characters: the exact ground truth (cast included) goes to
    ``root / "ground_truth.h5"``, which only evaluation reads.
    """
    video = generate_shots(seed, width=width, height=height, shots=shots, frames_per_shot=frames_per_shot,
                           character_dir=character_dir)
    params: dict[str, object] = {
        "seed": seed, "width": width, "height": height, "shots": shots, "frames_per_shot": frames_per_shot,
        "character_dir": str(character_dir) if character_dir is not None else None,
    }
    return write_generated(Path(root), video, name, params)


def write_generated(root: Path, video: GeneratedVideo, name: str, params: dict[str, object]) -> Project:
    """Write a generated video as a project at ``root`` (left open), its exact truth beside it."""
    project = Project.create(root, _manifest(video, name, params))
    writer = GroundTruthWriter(root / GROUND_TRUTH_FILE, video)
    try:
        for frame in video:
            project.media.write_frame(frame.index, frame.image)
            project.media.write_proxy(frame.index, frame.image)  # the store fits it to long side 640
            project.media.write_thumbnail(frame.index, frame.image)  # and to height 54
            writer.add(frame)
        project.media.flush()
    except BaseException:
        project.close()
        raise
    finally:
        writer.close()
    return project


def ensure_demo_project(projects_dir: Path, **options: object) -> Path:
    """Create ``projects_dir / "demo"`` on first run only; return its path.

    The demo is built in a temporary folder and renamed into place, so an interrupted first run
    never leaves a half-written demo that looks complete.
    """
    projects_dir = Path(projects_dir)
    root = projects_dir / DEMO_NAME
    if (root / "project.json").is_file() and (root / GROUND_TRUTH_FILE).is_file():
        return root
    try:
        projects_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProjectError(f"Cannot create the projects folder {projects_dir} ({exc.strerror or exc}).") from exc
    tmp = projects_dir / f".{DEMO_NAME}-building-{os.getpid()}-{time.time_ns()}"
    project = create_demo_project(tmp, **options)  # type: ignore[arg-type]
    project.close()
    if root.exists():  # an incomplete earlier demo: keep it aside rather than delete anything
        root.rename(projects_dir / f".{DEMO_NAME}-incomplete-{time.time_ns()}")
    os.replace(tmp, root)
    return root
