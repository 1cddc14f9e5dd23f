"""Training samples shared by the kohya, hf and webdataset formats: a cut-out or a frame, its mask, its caption.

Options read here: ``unit`` (``character``: one RGBA cut-out per character; ``frame``: the full frame),
``background`` (``transparent``, ``white``, ``#rrggbb``), ``buckets`` (``none`` or ``sdxl``: crop around
the character to the nearest SDXL bucket aspect and resize to it), ``margin`` (bucket crop margin),
``caption`` (append the annotator's sentence), ``png_level``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.export.core import ExportContext, FrameData
from app.export.naming import ExportError
from app.export.render import (
    DEFAULT_PNG_LEVEL,
    bucket_crop,
    characters_alpha,
    crop_resize,
    cutout,
    decontaminate,
    object_alpha,
    parse_colour,
)

UNITS = ("character", "frame")


@dataclass
class Sample:
    """One training sample: a name stem, the picture (RGB or RGBA), its uint8 mask and caption."""

    stem: str
    image: np.ndarray
    mask: np.ndarray
    caption: str
    triggers: list[str]
    object_ids: list[int]


def unit(ctx: ExportContext) -> str:
    value = str(ctx.options.get("unit", "character"))
    if value not in UNITS:
        raise ExportError(f"unit must be one of {', '.join(UNITS)}, not {value!r}.")
    return value


def png_level(ctx: ExportContext) -> int:
    level = int(ctx.options.get("png_level", DEFAULT_PNG_LEVEL))
    if not 0 <= level <= 9:
        raise ExportError("png_level must be between 0 and 9.")
    return level


def background(ctx: ExportContext) -> tuple[int, int, int] | None:
    try:
        return parse_colour(str(ctx.options.get("background", "transparent")))
    except ValueError as exc:
        raise ExportError(f"background must be transparent, white, black, grey or #rrggbb ({exc}).") from exc


FEATURES = ("hair", "eyes", "clothes")  # what the annotator says about each character


def _described(fd: FrameData) -> dict[str, dict[str, object]]:
    objects = fd.annotations.get("objects")
    return {str(k): v for k, v in objects.items() if isinstance(v, dict)} if isinstance(objects, dict) else {}


def object_tags(fd: FrameData, oid: int) -> list[str]:
    """Tags of one character's sample: its own colours, then the frame's tags that describe no
    character (shot type, effects). Other characters' colours and the character count stay out:
    a cut-out of one character captioned with another's hair teaches the wrong thing."""
    described = _described(fd)
    if not described:  # an annotator without per-character descriptions: the frame's tags are all we have
        return fd.tags
    mine = described.get(str(oid), {})
    own = [f"{mine[k]} {k}" for k in FEATURES if mine.get(k)]
    everyone = {f"{d[k]} {k}" for d in described.values() for k in FEATURES if d.get(k)}
    shared = [t for t in fd.tags if t not in everyone and not t.endswith(("character", "characters"))]
    return ["solo", *own, *(t for t in shared if t not in own)]


def object_sentence(fd: FrameData, oid: int) -> str:
    mine = _described(fd).get(str(oid), {})
    bits = [f"{mine[k]} {k}" for k in ("hair", "eyes") if mine.get(k)]
    sentence = "a character" + (" with " + " and ".join(bits) if bits else "")
    if mine.get("clothes"):
        sentence += f" wearing {mine['clothes']} clothes"
    return sentence[0].upper() + sentence[1:] + "."


def caption_for(ctx: ExportContext, fd: FrameData, oids: list[int]) -> tuple[str, list[str]]:
    """Trigger words (one per character, in object order), then tags, comma-separated: the sample's
    own character's tags for a one-character sample, else the frame's."""
    triggers: list[str] = []
    for oid in oids:
        word = ctx.trigger(oid)
        if word not in triggers:
            triggers.append(word)
    single = len(oids) == 1 and unit(ctx) == "character"
    tags = object_tags(fd, oids[0]) if single else fd.tags
    parts = [*triggers, *(t for t in tags if t not in triggers)]
    if ctx.options.get("caption") and fd.caption:
        parts.append(object_sentence(fd, oids[0]) if single and _described(fd) else fd.caption)
    return ", ".join(parts), triggers


def samples(ctx: ExportContext, fd: FrameData) -> list[Sample]:
    """The frame's samples under the unit, background and bucket options."""
    bg = background(ctx)
    buckets = str(ctx.options.get("buckets", "none"))
    if buckets not in ("none", "sdxl"):
        raise ExportError(f"buckets must be none or sdxl, not {buckets!r}.")
    margin = float(ctx.options.get("margin", 0.1))
    groups = [[oid] for oid in fd.item.objects] if unit(ctx) == "character" else [list(fd.item.objects)]
    out = []
    for oids in groups:
        cut = len(oids) == 1 and unit(ctx) == "character"
        if cut:
            # the whole character: what a subtitle hides of it is painted in (`FrameData.under_text`)
            a = object_alpha(fd.object_labels, fd.object_alpha, oids[0])
            rgb = decontaminate(fd.object_image, a, fd.clean)
            stem = f"f{fd.frame:06d}_o{oids[0]:03d}"
        else:
            a = characters_alpha(fd.labels, fd.alpha, oids)
            rgb = fd.image  # a full frame keeps its background; the mask says where the characters are
            stem = f"f{fd.frame:06d}"
        if buckets == "sdxl":
            # colour and matte are resampled apart and only then composited, so no background
            # colour bleeds into the edge
            box, size = bucket_crop(a, margin)
            rgb, a = crop_resize(rgb, box, size), crop_resize(a, box, size)
        picture = cutout(rgb, a, bg) if cut else rgb
        caption, triggers = caption_for(ctx, fd, oids)
        out.append(Sample(stem, picture, a, caption, triggers, oids))
    return out


def with_alpha(picture: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """RGBA with ``mask`` as alpha (kohya's ``alpha_mask`` masked loss reads it from there)."""
    rgb = picture[..., :3]
    return np.dstack([rgb, mask])
