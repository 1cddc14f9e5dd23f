"""What every stage shares: the context a stage sees of the runner, frame-parallel and shot-sampled
drivers, and the masks the downstream stages derive from ``masks``."""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal, Protocol, overload

import cv2
import numpy as np

from app.pipeline.frames import HeldFrames, ShotFrames
from app.pipeline.graph import NOT_CHARACTER, PICTURES_RECORD, SHARE_REPEATS, current_inputs
from app.store import Project, Shot
from models.base import Annotator, EffectSeparator, Inpainter, Matter, Propagator, Segmenter
from models.classical.drawings import repeats
from models.classical.inpaint import matte_background
from models.classical.labelmaps import closed_objects


class StageContext(Protocol):
    project: Project

    # Each role's backend by its protocol (models/base.py); a backend's optional shot-level methods
    # (the weight-free ones' `matte_shot`, `separate_shot`, `stitch`) are found with `hasattr`.
    @overload
    def backend(self, role: Literal["segmenter"]) -> Segmenter: ...
    @overload
    def backend(self, role: Literal["propagator"]) -> Propagator: ...
    @overload
    def backend(self, role: Literal["matter"]) -> Matter: ...
    @overload
    def backend(self, role: Literal["effects"]) -> EffectSeparator: ...
    @overload
    def backend(self, role: Literal["inpainter"]) -> Inpainter: ...
    @overload
    def backend(self, role: Literal["annotator"]) -> Annotator: ...
    @overload
    def backend(self, role: str) -> Any: ...

    def backend_name(self, role: str) -> str: ...

    def workers(self, role: str) -> int: ...

    def option(self, name: str) -> Any: ...

    def frames(self, indices: list[int], load: Callable[[int], np.ndarray] | None = None) -> ShotFrames: ...

    def write(self, layer: str, frame: int, array: np.ndarray, meta: dict[str, Any] | None = None) -> None: ...

    def done(self, stage: str, frame: int, inputs: dict[str, Any], extra: dict[str, Any] | None = None) -> None: ...

    def failed(self, stage: str, frame: int, inputs: dict[str, Any], reason: str) -> None: ...

    def checkpoint(self, stage: str, frame: int) -> None: ...

    def poll(self) -> None: ...

    def drain(self) -> None: ...


def per_frame(
    ctx: StageContext, stage: str, role: str, targets: list[int], compute: Callable[[int], Any],
    store: Callable[[int, Any], None] | None = None, groups: dict[int, list[int]] | None = None,
) -> None:
    """Compute ``targets`` in order; frames run on ``ctx.workers(role)`` threads (OpenCV and numpy
    release the GIL, so weight-free backends keep every core busy), results land in frame order.

    ``compute`` returns layer arrays by name, written as they are, unless ``store`` saves its
    result instead (on the stage's thread, in frame order). With ``groups`` (`repeat_groups`) only
    each group's first target is computed, and every target of the group gets its result."""
    name = ctx.backend_name(role)
    workers = max(1, ctx.workers(role))
    pool = ThreadPoolExecutor(workers, thread_name_prefix=f"stage-{stage}") if workers > 1 else None
    members = groups if groups is not None else {f: [f] for f in targets}

    def start(frame: int) -> tuple[int, dict[int, dict[str, Any]], Future[Any]]:
        inputs = {f: current_inputs(ctx.project, stage, f, name) for f in members[frame]}
        future: Future[Any]
        if pool is not None:
            future = pool.submit(compute, frame)
        else:
            future = Future()
            try:
                future.set_result(compute(frame))
            except Exception as exc:
                future.set_exception(exc)
        return frame, inputs, future

    queue: deque[tuple[int, dict[int, dict[str, Any]], Future[Any]]] = deque()
    todo = iter(sorted(members))
    try:
        while True:
            while len(queue) < workers * 2 and (frame := next(todo, None)) is not None:
                queue.append(start(frame))
            if not queue:
                break
            frame, inputs, future = queue.popleft()
            try:
                outputs = future.result()
            except Exception as exc:
                for f, f_inputs in inputs.items():
                    ctx.failed(stage, f, f_inputs, f"{type(exc).__name__}: {exc}")
            else:
                for f, f_inputs in inputs.items():
                    if store is not None:
                        store(f, outputs)
                    else:
                        for layer, array in outputs.items():
                            ctx.write(layer, f, array, {"stage": stage, "backend": name})
                    ctx.done(stage, f, f_inputs)
            for f in inputs:
                ctx.checkpoint(stage, f)
    finally:
        if pool is not None:
            for _, _, future in queue:
                future.cancel()
            pool.shutdown(wait=True)


def share_repeats(project: Project) -> bool:
    """Whether a drawing that repeats an earlier one of its shot shares its result (the default; a
    batch worker's shot workspace carries no settings and follows it)."""
    settings = getattr(project.manifest, "settings", None)
    return bool(settings.get(SHARE_REPEATS, True)) if isinstance(settings, dict) else True


def shot_pictures(ctx: StageContext, shot: Shot) -> dict[int, int]:
    """Each drawing of ``shot`` (by its first frame) -> the first drawing of the shot that shows the
    same picture: itself, unless it repeats an earlier one (`drawings.repeats`: a mouth flap, a
    cycle). Made from the shot's frames alone and stored as the record ``shot/pictures`` at the
    shot's first frame; remade when the shot's bounds or drawings change."""
    project = ctx.project
    keys = project.drawing_keys
    drawings = [f for f in range(shot.start, shot.end) if int(keys[f]) == f]
    inputs = {"shot": [shot.start, shot.end], "drawings": drawings, "share": share_repeats(project)}
    record = project.layers.read_record(PICTURES_RECORD, shot.start)
    if record is not None and record.get("inputs") == inputs:
        return dict(zip(drawings, (int(p) for p in record["pictures"]), strict=True))
    if inputs["share"] and len(drawings) > 2:  # two drawings in a row are never the same picture
        frames = ctx.frames(drawings)
        try:
            first = repeats(frames)
        finally:
            frames.close()
    else:
        first = list(range(len(drawings)))
    pictures = [drawings[j] for j in first]
    project.layers.write_record(PICTURES_RECORD, shot.start, {"inputs": inputs, "pictures": pictures})
    return dict(zip(drawings, pictures, strict=True))


def equal_inputs(*reads: Callable[[int], np.ndarray]) -> Callable[[int, int], bool]:
    """``same`` for `repeat_groups`: two frames whose ``reads`` give equal arrays. Each array is read
    once and kept as a digest (BLAKE2b of its shape, type and bytes), not as pixels, so grouping a
    long 1080p shot holds no masks in memory."""
    digests: dict[int, tuple[bytes, ...]] = {}

    def digest(frame: int) -> tuple[bytes, ...]:
        if frame not in digests:
            out = []
            for read in reads:
                array = np.ascontiguousarray(read(frame))
                h = hashlib.blake2b(f"{array.dtype}{array.shape}".encode(), digest_size=20)
                h.update(array.tobytes())  # a copy, but of one mask at a time
                out.append(h.digest())
            digests[frame] = tuple(out)
        return digests[frame]

    return lambda a, b: digest(a) == digest(b)


def repeat_groups(
    ctx: StageContext, shot: Shot, targets: list[int], same: Callable[[int, int], bool],
) -> dict[int, list[int]]:
    """``targets`` grouped for computing once: each group's first target -> every target of the
    group. A target joins the group of an earlier target that shows the same picture
    (`shot_pictures`) when ``same(first, target)`` says the stage's other inputs are equal too (its
    masks, say: a correction on one repeat makes it a drawing of its own), so the shared result is
    what computing it would give - as for the frames of a hold."""
    pictures = shot_pictures(ctx, shot)
    keys = ctx.project.drawing_keys
    groups: dict[int, list[int]] = {}
    for frame in sorted(targets):
        picture = pictures.get(int(keys[frame]), int(keys[frame]))
        lead = next((g for g in groups if pictures.get(int(keys[g]), int(keys[g])) == picture and same(g, frame)), None)
        if lead is None:
            groups[frame] = [frame]
        else:
            groups[lead].append(frame)
    return groups


def context_frames(
    shot: Shot, targets: list[int], limit: int = 16, keys: np.ndarray | None = None,
    pictures: dict[int, int] | None = None,
) -> list[int]:
    """The targets plus evenly spread frames of the shot that show the background behind them.

    With ``keys`` (the drawing map) only first frames of drawings are candidates: a held frame is
    the same picture as a target or another candidate, so it would crowd the bounded sample without
    showing any more of the background; with ``pictures`` (`shot_pictures`) only the first drawing
    of each picture, for the same reason."""
    wanted = set(targets)
    others = [f for f in range(shot.start, shot.end)
              if f not in wanted and (keys is None or int(keys[f]) == f)
              and (pictures is None or pictures.get(f, f) == f)]
    room = max(0, limit - len(targets))
    if others and room:
        step = max(1, len(others) // room)
        others = others[::step][:room]
    else:
        others = []
    return sorted(wanted | set(others))


SAMPLED_BATCH = 16  # targets per `sampled_shot` batch


def sampled_shot(
    ctx: StageContext, stage: str, role: str, layer: str, shot: Shot, targets: list[int],
    compute: Callable[[list[int], ShotFrames, list[int]], Sequence[np.ndarray | dict[str, np.ndarray]]],
    groups: dict[int, list[int]] | None = None,
) -> None:
    """Run a shot-level backend on batches of up to 16 targets, each with a bounded sample of the
    shot's other frames (`context_frames`); ``compute(indices, frames, batch)`` returns one result per
    index: the array of ``layer``, or arrays by layer name (written in their order, ``layer`` among
    them); only the results of ``batch`` (the targets among ``indices``) are written. With ``groups``
    (`repeat_groups`) only each group's first target is computed, and every target of the group gets
    its result. A frame several batches sample is decoded once (`HeldFrames`)."""
    name = ctx.backend_name(role)
    members = groups if groups is not None else {f: [f] for f in targets}
    inputs = {f: current_inputs(ctx.project, stage, f, name) for g in members.values() for f in g}
    leads = sorted(members)
    pictures = shot_pictures(ctx, shot) if groups is not None else None
    batches = [leads[start : start + SAMPLED_BATCH] for start in range(0, len(leads), SAMPLED_BATCH)]
    samples = [context_frames(shot, batch, keys=ctx.project.drawing_keys, pictures=pictures) for batch in batches]
    held = HeldFrames(ctx.project.frame, samples)
    for n, (batch, indices) in enumerate(zip(batches, samples, strict=True)):
        frames = ctx.frames(indices, load=held.get)
        try:
            results = compute(indices, frames, batch)
        except Exception as exc:
            for frame in batch:
                for f in members[frame]:
                    ctx.failed(stage, f, inputs[f], f"{type(exc).__name__}: {exc}")
            continue
        finally:
            frames.close()
            held.finish(n)
        for frame in batch:
            result = results[indices.index(frame)]
            for f in members[frame]:
                for out_layer, array in (result.items() if isinstance(result, dict) else [(layer, result)]):
                    ctx.write(out_layer, f, array, {"stage": stage, "backend": name})
                ctx.done(stage, f, inputs[f])
                ctx.checkpoint(stage, f)


def character_mask(project: Project, frame: int) -> np.ndarray:
    return _characters(project, project.masks_or_empty(frame))


def _ids_of_kind(project: Project, kinds: Mapping[int, str] | None, *wanted: str) -> list[int]:
    """The objects of the ``wanted`` kinds: the project's, or those of ``kinds`` (object -> kind: the
    list as it was before an edit, for `MASK_VIEWS`)."""
    if kinds is None:
        return project.objects.ids_of_kind(*wanted)
    return [oid for oid, kind in kinds.items() if kind in wanted]


def _characters(project: Project, labels: np.ndarray, kinds: Mapping[int, str] | None = None) -> np.ndarray:
    others = _ids_of_kind(project, kinds, *NOT_CHARACTER)
    mask = labels > 0
    if others:
        mask &= ~np.isin(labels, others)
    return mask


def text_mask(project: Project, frame: int) -> np.ndarray:
    """Pixels of burnt-in text objects on ``frame``."""
    return _text(project, project.masks_or_empty(frame))


def character_and_text_masks(project: Project, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """`character_mask` and `text_mask` of ``frame`` from one read of its masks."""
    labels = project.masks_or_empty(frame)
    return _characters(project, labels), _text(project, labels)


def _text(project: Project, labels: np.ndarray, kinds: Mapping[int, str] | None = None) -> np.ndarray:
    text = _ids_of_kind(project, kinds, "text")
    return np.isin(labels, text) if text else np.zeros(labels.shape, bool)


EFFECT_HOLE = 0.25  # effect strength above which the clean plate paints the effect out


def inpaint_hole(project: Project, frame: int, grow: int | None = None) -> np.ndarray:
    """What the clean plate must paint over: the characters made solid (`_solid`) with what their
    matte holds (`_held`) and burnt-in text, grown over their soft fringe (anti-aliased outline, hair
    strands, glyph outlines), and the effects the effects stage found. ``grow=0`` gives what hides the
    background (the characters with the holes their masks enclose and what the matte holds, the text
    and the effects): a stitching source uses everything else."""
    effects = effect_hole(project, frame)
    solid, hidden = _held(project.layers.read("alpha", frame), *_solid(project, project.masks_or_empty(frame)))
    hole = hidden if grow == 0 else _grown(solid, grow)
    return hole if effects is None else hole | effects


def inpaint_holes(project: Project, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """`inpaint_hole` grown and with ``grow=0``, from one read of the frame's masks and effects."""
    labels, effects = project.masks_or_empty(frame), effect_hole(project, frame)
    solid, hidden = _held(project.layers.read("alpha", frame), *_solid(project, labels))
    holes = (_grown(solid, None), hidden)
    return holes if effects is None else (holes[0] | effects, holes[1] | effects)


def inpaint_sources(project: Project, frame: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`inpaint_holes` and, from the same read of the masks, what of the hidden part the frame's
    matte says is background (`matte_background` of its characters' union; none before the matte
    stage has run there, and never text or an effect): as a stitching source the frame lends it."""
    labels, effects = project.masks_or_empty(frame), effect_hole(project, frame)
    alpha = project.layers.read("alpha", frame)
    solid, hidden = _held(alpha, *_solid(project, labels))
    hole = _grown(solid, None)
    clear = np.zeros(labels.shape, bool) if alpha is None else matte_background(alpha, _characters(project, labels))
    if effects is None:
        return hole, hidden, clear
    return hole | effects, hidden | effects, clear & ~effects


# Alpha (0..255) from which the plate takes a pixel as the characters' though no mask labels it. At
# 64 and 13 the plate lost (layer-quality tuning seeds, PSNR on revealed pixels, mean 32.05 dB at 128,
# 31.81 at 64; `eval layers` 46-51 27.96 -> 27.86 dB at 64); 250 gave the same within noise.
MATTE_HELD = 128


def _held(alpha: np.ndarray | None, solid: np.ndarray, hidden: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``solid`` and ``hidden`` (`_solid`) with what the frame's matte holds as character (alpha at
    least `MATTE_HELD`; nothing before the matte stage has run). The masks leave a character's lenses
    and eye whites unlabelled where the matte fills them (`matting.fill_outlined_holes`), and a part
    of the outline or hair the matte takes: as background those pixels stayed in the plate, and a
    source lent them (onepiece_demo.mp4, shot 0: Coby's glasses and eyes in the plate where he sat)."""
    if alpha is None:
        return solid, hidden
    held = np.asarray(alpha) >= MATTE_HELD
    return solid | held, hidden | held


def _grown(mask: np.ndarray, grow: int | None) -> np.ndarray:
    if grow is None:
        grow = max(2, round(0.006 * max(mask.shape)))
    hole = mask.copy()
    x, y, w, h = cv2.boundingRect(mask.view(np.uint8))
    if grow > 0 and w > 0:
        # Dilated in the mask's box grown by the kernel: the same pixels, a fraction of the frame's work.
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        box = (slice(max(0, y - grow), y + h + grow), slice(max(0, x - grow), x + w + grow))
        hole[box] = cv2.dilate(mask[box].view(np.uint8), kernel).astype(bool)
    return hole


CLOSE_RADIUS = 3  # px at 480 rows: the gaps in a character's mask the plate paints over


def hiding_labels(project: Project, frame: int) -> np.ndarray:
    """The labels of ``frame``'s characters and text (0 elsewhere): equal ones give equal
    `inpaint_holes` with equal mattes, at a fraction of their cost (the inpaint stage groups repeats
    by them and the matte)."""
    labels = project.masks_or_empty(frame)
    return np.where(_characters(project, labels) | _text(project, labels), labels, 0).astype(np.uint8)


def _solid(project: Project, labels: np.ndarray, kinds: Mapping[int, str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The characters made solid (each mask closed over gaps of a few pixels, `CLOSE_RADIUS` at 480
    rows, and the holes it then encloses filled: `closed_objects`) with the text; and what hides
    the background: the characters' masks with those enclosed holes alone, and the text.

    Stage-1 masks leave gaps and holes in a character (hair sides, glasses, a collar's stripes): a
    plate kept those pixels as the frame and the spatial fill smeared them into what it invents
    round them. A source frame's enclosed holes are the character too, not background it shows.
    The gaps the closing bridges are not taken from sources: with true masks they are mostly
    background between strands and limbs (plate PSNR with true masks fell 0.1-0.3 dB)."""
    others = set(_ids_of_kind(project, kinds, *NOT_CHARACTER))
    ids = [int(v) for v in np.flatnonzero(np.bincount(labels.ravel(), minlength=256)) if v and int(v) not in others]
    closed, enclosed = closed_objects(labels, ids, max(1, round(CLOSE_RADIUS * min(labels.shape) / 480)))
    text = _text(project, labels, kinds)
    return closed | text, _characters(project, labels, kinds) | enclosed | text


# What each stage downstream of the masks reads of a frame's label map, given the objects' kinds, as
# parts compared in turn (`app.pipeline.carry`): the matte reads the characters' union (`character_mask`),
# the effects that and the text (`character_and_text_masks`), the plate those and the characters made
# solid one by one (`inpaint_holes`; the effects and the matte it also paints over are inputs of their
# own: the plate's parts take in the matte's, so a plate is carried only where the matte's part is equal
# too, and a matte that re-runs makes the plate stale through its alpha). Two maps
# whose parts are equal give the stage equal inputs, so its result stands: merging two characters
# changes none of these, moving text into a character changes them all. Annotate reads the ids
# themselves (a record per object): not here, it re-runs on every changed map.
MaskPart = Callable[[Project, np.ndarray, Mapping[int, str]], tuple[np.ndarray, ...]]
_CHARACTERS: MaskPart = lambda project, labels, kinds: (_characters(project, labels, kinds),)  # noqa: E731
_TEXT: MaskPart = lambda project, labels, kinds: (_text(project, labels, kinds),)  # noqa: E731
MASK_VIEWS: dict[str, tuple[MaskPart, ...]] = {
    "matte": (_CHARACTERS,),
    "effects": (_CHARACTERS, _TEXT),
    "inpaint": (_CHARACTERS, _TEXT, _solid),
}


def effect_hole(project: Project, frame: int) -> np.ndarray | None:
    """The effects strong enough for the clean plate to paint out (`EFFECT_HOLE`); None before the
    effects stage has run on ``frame``."""
    effects = project.layers.read("effects", frame)
    return None if effects is None else np.asarray(effects >= round(EFFECT_HOLE * 255))


def jsonable(value: Any) -> Any:
    """Arrays and numpy scalars as plain lists and numbers, so records keep every value exactly."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
