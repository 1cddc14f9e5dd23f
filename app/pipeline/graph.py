"""The stage graph and per-frame freshness.

Order (`STAGES`): ``segment`` -> ``propagate`` (temporal consistency, writes the final ``masks``) ->
``matte`` and ``effects`` -> ``inpaint`` (which paints out characters and effects) -> ``annotate``.
``propagate`` runs before the mattes so that they follow the final masks.

Each result records, in the record ``stage/<name>``, the versions of the inputs it was made from. A
result is *fresh* when those equal the current versions, so a change to one frame's input makes exactly
the results that read it stale. The weight-free segment, matte, effects and inpaint also name the
digest of their shot's camera (`CAMERA_RECORD`, one analysis per shot, made before the segment stage
from the shot's frames alone), so they go stale when it changes.
Frames whose masks the user owns (corrections, accepted propagations) are never overwritten by
``segment`` and ``propagate``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from app.store import Project, Shot
from app.store.objects import KINDS
from models.registry import weight_free

STAGES: tuple[str, ...] = ("segment", "propagate", "matte", "effects", "inpaint", "annotate")
ROLE_OF_STAGE: dict[str, str] = {
    "segment": "segmenter",
    "propagate": "propagator",
    "matte": "matter",
    "inpaint": "inpainter",
    "effects": "effects",
    "annotate": "annotator",
}
# Array layers each stage reads from the store (besides the source frame).
STAGE_INPUTS: dict[str, tuple[str, ...]] = {
    "segment": (),
    "propagate": ("segmentation",),
    "matte": ("masks",),
    "effects": ("masks",),
    "inpaint": ("masks", "effects", "alpha"),  # alpha: a source lends what its matte says is background
    "annotate": ("masks",),  # the annotator reads the frame and its labels only
}
DOWNSTREAM_OF_MASKS: tuple[str, ...] = ("matte", "effects", "inpaint", "annotate")
# The array layer each stage's result is written to (annotate writes records, not an array layer).
STAGE_OUTPUT: dict[str, str | None] = {
    "segment": "segmentation",
    "propagate": "masks",
    "matte": "alpha",
    "effects": "effects",
    "inpaint": "clean",
    "annotate": None,
}

MISSING, FRESH, STALE, RUNNING, FAILED = 0, 1, 2, 3, 4
STATUS_NAMES = {MISSING: "missing", FRESH: "fresh", STALE: "stale", RUNNING: "running", FAILED: "failed"}


def record_name(stage: str) -> str:
    return f"stage/{stage}"


KEYFRAME_EVERY = 8  # a batch propagate re-propagates segment keyframes this far apart


def keyframes(shot: Shot, frame: int) -> tuple[int, int]:
    """The segment keyframes around ``frame`` that a batch propagate propagates between."""
    k0 = shot.start + (frame - shot.start) // KEYFRAME_EVERY * KEYFRAME_EVERY
    return k0, min(k0 + KEYFRAME_EVERY, shot.end - 1)


# The shot-level analysis (`app.pipeline.stages.shot`): the camera of a shot, one record at its first
# frame, made from the shot's frames alone (so it depends on no stage). The weight-free backends of
# these stages model the shot's background through it.
CAMERA_RECORD = "shot/camera"
CAMERA_STAGES: tuple[str, ...] = ("segment", "matte", "effects", "inpaint")
# Deep backends that stitch through the camera too (LaMa fills only what no frame of the shot shows).
CAMERA_BACKENDS: dict[str, tuple[str, ...]] = {"inpaint": ("lama",)}
# Which drawings of a shot repeat an earlier drawing's picture (a mouth flap, a walk cycle), one record
# at its first frame, made from the shot's frames alone (`stages.common.shot_pictures`).
PICTURES_RECORD = "shot/pictures"
SHOT_RECORDS: tuple[str, ...] = (CAMERA_RECORD, PICTURES_RECORD)
# A project setting (``manifest.settings``): False computes a repeated drawing again instead of sharing
# the result of the drawing it repeats (as a project without holds computes every frame).
SHARE_REPEATS = "share_repeats"


NOT_CHARACTER = ("effect", "text")  # kinds that are never part of a character's matte or cut-out

# What each stage reads of an object's kind, as the class each kind falls in for it: the matte keeps
# characters and props, and leaves effects and text out (`NOT_CHARACTER`); propagate
# (holes filled in characters, never over text), effects and inpaint (text painted out, characters made
# solid) tell text from effects too; annotate records every object's kind. A kind change that keeps an
# object's class (a character made a prop, for the matte) changes nothing the stage reads. The segment
# stage reads none (its tracks' kinds are its own; registration reads kinds to link tracks, but a
# re-run keeps links already made). tests/test_object_kind.py checks them against `stages.common.MASK_VIEWS`.
_CHARACTER_OR_NOT = {k: "other" if k in NOT_CHARACTER else "character" for k in KINDS}
_CHARACTER_TEXT_EFFECT = {"character": "character", "prop": "character", "effect": "effect", "text": "text"}
KIND_VIEWS: dict[str, dict[str, str]] = {
    "propagate": _CHARACTER_TEXT_EFFECT,
    "matte": _CHARACTER_OR_NOT,
    "effects": _CHARACTER_TEXT_EFFECT,
    "inpaint": _CHARACTER_TEXT_EFFECT,
    "annotate": {"character": "character", "prop": "prop", "effect": "effect", "text": "text"},
}
KIND_STAGES: tuple[str, ...] = tuple(s for s in STAGES if s in KIND_VIEWS)


def changed_kinds(project: Project, stage: str) -> dict[int, str]:
    """Objects whose kind the user changed (`ObjectInfo.found_kind`) so that ``stage`` reads them
    otherwise than as found: object -> its class now (`KIND_VIEWS`). Empty for a stage that reads no
    kinds, and in a project whose kinds were never changed (no frame is read then)."""
    view = KIND_VIEWS.get(stage)
    if view is None:
        return {}
    return {o.id: view.get(o.kind, o.kind) for o in project.manifest.objects
            if o.found_kind is not None and view.get(o.kind, o.kind) != view.get(o.found_kind, o.found_kind)}


def kinds_input(changed: dict[int, str], on_frame: Iterable[int]) -> list[list[Any]]:
    """The kinds a result depends on beyond those it was found with: [object, class] for each object of
    ``changed`` (`changed_kinds`) on the frame. Empty (and left out of the inputs) while none is."""
    return [[oid, changed[oid]] for oid in sorted(set(on_frame)) if oid in changed]


def uses_camera(stage: str, backend: str) -> bool:
    """True when ``stage`` run by ``backend`` reads the shot's camera: every weight-free backend (the
    classical ones and their menu variants) and the deep ones in `CAMERA_BACKENDS`; other deep
    backends see frames alone."""
    return stage in CAMERA_STAGES and (
        weight_free(ROLE_OF_STAGE[stage], backend) or backend in CAMERA_BACKENDS.get(stage, ()))


def camera_digest(project: Project, shot: Shot) -> str | None:
    """The digest of the shot's stored camera (None when there is none for these shot bounds)."""
    record = project.layers.read_record(CAMERA_RECORD, shot.start)
    if record is None or record.get("inputs", {}).get("shot") != [shot.start, shot.end]:
        return None
    return str(record.get("digest"))


def stage_inputs(
    stage: str, frame: int, shot: Shot, backend: str, version: Callable[[str, int], int], camera: str | None = None,
    kinds: list[list[Any]] | None = None,
) -> dict[str, Any]:
    """What a ``stage`` result for ``frame`` depends on, given a way to read layer versions, the
    digest of the shot's camera (for the stages that read it) and the frame's `kinds_input`."""
    inputs: dict[str, Any] = {"backend": backend}
    for layer in STAGE_INPUTS[stage]:
        inputs[layer] = version(layer, frame)
    if uses_camera(stage, backend):
        inputs["camera"] = camera
    if kinds:
        inputs["kinds"] = kinds
    if stage == "segment":
        # The segment stage models the whole shot, so splitting or merging shots makes it stale there.
        inputs["shot"] = [shot.start, shot.end]
    if stage == "propagate":
        inputs["keyframes"] = [[k, version("segmentation", k)] for k in keyframes(shot, frame)]
    return inputs


def current_inputs(project: Project, stage: str, frame: int, backend: str) -> dict[str, Any]:
    shot = project.shot_of(frame)
    camera = camera_digest(project, shot) if uses_camera(stage, backend) else None
    changed = changed_kinds(project, stage)
    kinds = kinds_input(changed, project.layers.present_on("masks", frame)) if changed else None
    return stage_inputs(stage, frame, shot, backend, project.layers.version, camera, kinds)


def user_owned(project: Project, frame: int) -> bool:
    """True when the frame's masks came from the journal (a correction or an accepted propagation)."""
    return _user_source(project.layers.meta("masks", frame))


def _user_source(meta: dict[str, Any]) -> bool:
    return meta.get("source", "pipeline") != "pipeline"


# Below this share of the project, statuses are read frame by frame instead of in one bulk read of the
# whole project, so the work after a click is proportional to the frames it changed.
PER_FRAME_SHARE = 1 / 16


def stale_frames(project: Project, stage: str, frames: range | list[int], backend: str, *, retry_failed: bool = True) -> list[int]:
    """Frames among ``frames`` whose ``stage`` result is missing or stale (and failed, if asked)."""
    redo = (MISSING, STALE, FAILED) if retry_failed else (MISSING, STALE)
    frames = list(frames)
    if len(frames) < PER_FRAME_SHARE * project.frame_count:
        codes = frame_statuses(project, stage, frames, backend)
        return [f for f in frames if codes[f] in redo]
    bulk = stage_status(project, stage, backend)
    return [f for f in frames if bulk[f] in redo]


def frames_to_compute(project: Project, stage: str, frames: list[int], backend: str, *, force: bool = False) -> list[int]:
    """The frames among ``frames`` that ``stage`` must compute: the stale ones (all when forced), each
    drawing once, at its first frame (every frame of its hold shares the result)."""
    if not force:
        stale = set(stale_frames(project, stage, frames, backend))
        frames = [f for f in frames if f in stale]
    keys = project.drawing_keys
    return sorted({int(keys[f]) for f in frames})


def frame_statuses(project: Project, stage: str, frames: list[int], backend: str) -> dict[int, int]:
    """The status code of each of ``frames``, read frame by frame (a few index look-ups each); the
    same codes `stage_status` gives those frames. A held frame has its drawing's status."""
    keys = project.drawing_keys
    by_key: dict[int, int] = {}
    out: dict[int, int] = {}
    for frame in frames:
        key = int(keys[frame])
        if key not in by_key:
            if stage == "propagate" and user_owned(project, key):
                by_key[key] = FRESH
            else:
                record = project.layers.read_record(record_name(stage), key)
                by_key[key] = MISSING if record is None else _status(record, current_inputs(project, stage, key, backend))
        out[frame] = by_key[key]
    return out


def stage_status(project: Project, stage: str, backend: str) -> np.ndarray:
    """One status code per frame (for timeline strips), from a few bulk reads of the index."""
    n = project.frame_count
    records = project.layers.read_records(record_name(stage))
    layers = set(STAGE_INPUTS[stage]) | ({"segmentation"} if stage == "propagate" else set())
    versions = {layer: project.layers.versions(layer) for layer in layers}
    owned: set[int] = set()
    if stage == "propagate":
        owned = {f for f, m in project.layers.all_meta("masks").items() if _user_source(m)}
    codes = np.full(n, MISSING, np.uint8)
    keys = project.drawing_keys
    changed = changed_kinds(project, stage)
    on = project.layers.present("masks") if changed else {}
    for shot in project.shots:
        # Read once per shot, and only for a shot with results (a batch worker holds one shot alone).
        camera: str | None = None
        read_camera = uses_camera(stage, backend)
        for frame in range(shot.start, min(shot.end, n)):
            if keys[frame] != frame:  # a held frame has its drawing's result (computed just before)
                codes[frame] = codes[keys[frame]]
                continue
            if frame in owned:
                codes[frame] = FRESH
                continue
            record = records.get(frame)
            if record is None:
                continue
            if read_camera:
                camera, read_camera = camera_digest(project, shot), False
            kinds = kinds_input(changed, on.get(frame, ())) if changed else None
            inputs = stage_inputs(stage, frame, shot, backend, lambda layer, f: int(versions[layer][f]), camera, kinds)
            codes[frame] = _status(record, inputs)
    return codes


def _status(record: dict[str, Any], inputs: dict[str, Any]) -> int:
    if record.get("inputs") != inputs:
        return STALE
    return FAILED if record.get("status") == "failed" else FRESH


def stage_summary(project: Project, stage: str, backend: str | None = None) -> dict[str, int]:
    if backend is None:
        backend = project.manifest.settings.get("backends", {}).get(ROLE_OF_STAGE[stage], "classical")
    codes = stage_status(project, stage, backend)
    return {STATUS_NAMES[c]: int((codes == c).sum()) for c in (FRESH, STALE, FAILED, MISSING) if (codes == c).any()}
