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


def caption_for(ctx: ExportContext, fd: FrameData, oids: list[int]) -> tuple[str, list[str]]:
    """Trigger words (one per character, in object order), then the frame's tags, comma-separated."""
    triggers: list[str] = []
    for oid in oids:
        word = ctx.trigger(oid)
        if word not in triggers:
            triggers.append(word)
    parts = [*triggers, *(t for t in fd.tags if t not in triggers)]
    if ctx.options.get("caption") and fd.caption:
        parts.append(fd.caption)
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
            a = object_alpha(fd.labels, fd.alpha, oids[0])
            rgb = decontaminate(fd.image, a, fd.clean)
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
