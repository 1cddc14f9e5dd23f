"""Every cleaned layer as plain PNG files, for compositing tools and custom training code.

``frames/fNNNNNN.png`` the source frame; ``objects/<id>_<name>/fNNNNNN.png`` the object as RGBA
(colour decontaminated against the clean plate); ``masks/binary/<id>_<name>/`` 0/255 masks;
``masks/palette/`` indexed PNGs whose pixel values are object ids (palette = object colours; a
burnt-in subtitle keeps its pixels there); ``under_text/<id>_<name>/`` where a subtitle hid part of
the object: 255 painted from another frame of the same drawing, 128 invented from the object's
colours around it (the object's RGBA, binary mask and ``alpha/`` cover those pixels, and the
manifest's ``under_text`` counts them);
``alpha/``, ``effects/``, ``confidence/`` grey PNGs; ``clean/`` RGB plates; ``effects_rgba/`` the light
layer as RGBA (the light's colour, its strength as alpha: composite it with an additive blend,
"Add" / "Linear Dodge", over the plate and the characters). ``alpha16=true`` writes
alpha mattes and object RGBA as 16-bit PNGs. ``frames=false`` leaves the source frames out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app.export.core import ExportContext, FrameData, Output
from app.export.formats.common import png_level
from app.export.naming import safe_relpath
from app.export.render import cutout, decontaminate, encode_palette_png, encode_png, object_alpha, to_16bit
from app.pipeline.stages.effects import read_light


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


class LayersFormat:
    """See the module docstring."""

    name = "layers"
    per_object = False

    def __init__(self, options: dict[str, Any]) -> None:
        self.alpha16 = _flag(options.get("alpha16"), False)
        self.frames = _flag(options.get("frames"), True)

    def frame_outputs(self, ctx: ExportContext, fd: FrameData) -> list[Output]:
        level = png_level(ctx)
        stem = f"f{fd.frame:06d}.png"
        info = ctx.base_info(fd)
        outs: list[Output] = []

        def add(rel: str, array_fn: Any, role: str, oid: int | None = None) -> None:
            meta = ctx.base_info(fd, oid) if oid is not None else info
            outs.append(Output(rel, lambda: encode_png(array_fn(), level), {**meta, "role": role}))

        if self.frames:
            add(safe_relpath("frames", stem), lambda: fd.image, "frame")
        colours = {o.id: tuple(o.color) for o in ctx.project.manifest.objects}
        outs.append(Output(safe_relpath("masks", "palette", stem),
                           lambda: encode_palette_png(fd.labels, colours), {**info, "role": "palette"}))  # type: ignore[arg-type]
        for oid in fd.item.objects:
            folder = ctx.object_dir(oid)

            def rgba(oid: int = oid) -> np.ndarray:
                a = object_alpha(fd.object_labels, fd.object_alpha, oid)
                picture = cutout(decontaminate(fd.object_image, a, fd.clean), a, None)
                return to_16bit(picture) if self.alpha16 else picture

            add(safe_relpath("objects", folder, stem), rgba, "object", oid)
            add(safe_relpath("masks", "binary", folder, stem),
                lambda oid=oid: (fd.object_labels == oid).astype(np.uint8) * 255, "mask", oid)
            if fd.under_text is not None and fd.under_text.record(oid) is not None:
                add(safe_relpath("under_text", folder, stem), lambda oid=oid: fd.under_text.mask(oid),  # type: ignore[union-attr]
                    "under_text", oid)
        if fd.object_alpha is not None:
            alpha = fd.object_alpha
            add(safe_relpath("alpha", stem), lambda: to_16bit(alpha) if self.alpha16 else alpha, "alpha")
        for name in ("effects", "clean", "confidence", "plate_confidence"):
            array = fd.layer(name)
            if array is not None:
                add(safe_relpath(name, stem), lambda a=array: a, name)
        strength, colour = read_light(ctx.project, fd.frame)
        if strength is not None and colour is not None:
            add(safe_relpath("effects_rgba", stem), lambda: np.dstack([colour, strength]), "effects_rgba")
        return outs

    def finish(self, ctx: ExportContext) -> None:
        return None
