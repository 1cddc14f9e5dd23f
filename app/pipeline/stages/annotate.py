"""The annotate stage: tags, captions, embeddings and the quality signals of every object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import numpy as np

from app.pipeline.stages.common import StageContext, equal_inputs, jsonable, per_frame, repeat_groups
from app.store import Shot
from models.base import FrameAnnotation, ObjectKind
from models.classical.faces import AnimeFaceDetector
from models.classical.quality import frame_quality
from models.classical.tracks import label_ids


def run_annotate(ctx: StageContext, shot: Shot, targets: list[int]) -> None:
    annotator = ctx.backend("annotator")
    name = ctx.backend_name("annotator")
    kinds = ctx.project.objects.kinds()

    faces = AnimeFaceDetector(min_size=smallest_face(ctx.project.height))

    def compute(frame: int) -> tuple[FrameAnnotation, dict[int, dict[str, Any]]]:
        labels = ctx.project.masks_or_empty(frame)
        image = ctx.project.frame(frame)
        # The store validates kinds against models.base.ObjectKind when an object is made or changed.
        frame_kinds = {i: cast(ObjectKind, kinds.get(i, "character")) for i in label_ids(labels)}
        result: FrameAnnotation = annotator.annotate(image, labels, frame_kinds)
        # Faces only count for characters and props: a frame without any needs no detection.
        judged = any(k in ("character", "prop") for k in frame_kinds.values())
        return result, object_quality_records(image, labels, frame_kinds, faces.detect(image) if judged else [], result)

    def store(frame: int, outputs: tuple[FrameAnnotation, dict[int, dict[str, Any]]]) -> None:
        result, quality = outputs
        record = {"tags": list(result.tags), "caption": result.caption, "backend": name,
                  **jsonable(dict(result.extra)), "quality": jsonable(quality)}
        ctx.project.layers.write_record("annotations", frame, record)
        if result.embedding is not None:
            ctx.project.layers.write_vector(f"embedding/{name}", frame, result.embedding)

    # A drawing that repeats an earlier one with the same labels shares its annotation.
    groups = repeat_groups(ctx, shot, targets, equal_inputs(ctx.project.masks_or_empty))
    per_frame(ctx, "annotate", "annotator", targets, compute, store, groups)


SMALLEST_FACE = 0.05  # of the frame height: 24 px at 480 lines, the cascade's own window


def smallest_face(height: int) -> int:
    """The smallest face side, in pixels, the quality signals look for: a share of the frame height,
    so a 1080p frame gives the faces its 480p encode would (measured on the 1080p slice: the same
    faces on all 38 drawings, half the detection CPU; the small scales are most of the cascade's
    work)."""
    return max(24, round(SMALLEST_FACE * height))


def object_quality_records(
    image: np.ndarray, labels: np.ndarray, kinds: Mapping[int, str], faces: list[tuple[int, int, int, int]],
    annotation: FrameAnnotation,
) -> dict[int, dict[str, Any]]:
    """The weight-free quality signals of every character and prop; an aesthetic score from the
    annotator (a deep head on CLIP embeddings) replaces the weight-free proxy where it gave one."""
    records = frame_quality(image, labels, dict(kinds), faces)
    deep = annotation.extra.get("objects", {})
    for oid, record in records.items():
        scored = deep.get(oid, {}) if isinstance(deep, dict) else {}
        if isinstance(scored, dict) and "aesthetic" in scored:
            record["aesthetic"] = float(scored["aesthetic"])
            record["aesthetic_source"] = str(scored.get("aesthetic_source", "deep"))
    return records
