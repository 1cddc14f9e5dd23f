"""kohya-ss (sd-scripts) LoRA training folders.

``img/<repeats>_<concept>/<stem>.png`` with ``<stem>.txt`` captions: the trigger word of each character
first, then the tags. Concept is the character's trigger word (``unit=character``) or ``concept``
(``unit=frame``, default the project name). Masks for masked loss: ``mask=alpha`` (RGBA, train with
``--alpha_mask``), ``mask=folder`` (``mask/<repeats>_<concept>/<stem>.png``, for ``conditioning_data_dir``)
or ``mask=none``. ``repeats`` (default 10). A ``dataset.toml`` for ``--dataset_config`` is written too.
"""

from __future__ import annotations

import hashlib
from typing import Any

from app.export.core import ExportContext, FrameData, Output
from app.export.formats.common import png_level, samples, unit, with_alpha
from app.export.naming import ExportError, safe_relpath, sanitize, trigger_word
from app.export.render import const, png_job

MASK_MODES = ("alpha", "folder", "none")


class KohyaFormat:
    """See the module docstring."""

    name = "kohya"

    def __init__(self, options: dict[str, Any]) -> None:
        self.per_object = str(options.get("unit", "character")) == "character"

    def _options(self, ctx: ExportContext) -> tuple[int, str]:
        try:
            repeats = int(ctx.options.get("repeats", 10))
        except ValueError as exc:
            raise ExportError("repeats must be a whole number.") from exc
        if repeats < 1:
            raise ExportError("repeats must be at least 1.")
        mask = str(ctx.options.get("mask", "alpha"))
        if mask not in MASK_MODES:
            raise ExportError(f"mask must be one of {', '.join(MASK_MODES)}, not {mask!r}.")
        return repeats, mask

    def _concept(self, ctx: ExportContext, triggers: list[str]) -> str:
        if unit(ctx) == "character":
            return triggers[0]
        return trigger_word(str(ctx.options.get("concept", ctx.project.manifest.name)))

    def frame_outputs(self, ctx: ExportContext, fd: FrameData) -> list[Output]:
        repeats, mask_mode = self._options(ctx)
        level = png_level(ctx)
        outputs = []
        for s in samples(ctx, fd):
            folder = f"{repeats}_{sanitize(self._concept(ctx, s.triggers), 'concept')}"
            info = ctx.base_info(fd, s.object_ids[0] if len(s.object_ids) == 1 else None)
            info["objects"] = s.object_ids
            transparent = s.image.shape[-1] == 4
            if mask_mode == "alpha" or transparent:
                picture = with_alpha(s.image, s.mask)
            else:
                picture = s.image
            outputs.append(Output(safe_relpath("img", folder, f"{s.stem}.png"),
                                  png_job(picture, level), {**info, "role": "image"}))
            outputs.append(Output(safe_relpath("img", folder, f"{s.stem}.txt"),
                                  const((s.caption + "\n").encode("utf-8")), {**info, "role": "caption"},
                                  key_extra=s.caption))
            if mask_mode == "folder":
                outputs.append(Output(safe_relpath("mask", folder, f"{s.stem}.png"),
                                      png_job(s.mask, level), {**info, "role": "mask"}))
            ctx.records.append({"folder": folder, "repeats": repeats})
        return outputs

    def finish(self, ctx: ExportContext) -> None:
        _, mask_mode = self._options(ctx)
        folders: dict[str, Any] = {}
        for r in ctx.records:
            folders[r["folder"]] = r["repeats"]
        lines = ["[general]", 'caption_extension = ".txt"', "shuffle_caption = false", "keep_tokens = 1", ""]
        lines += ["[[datasets]]", "resolution = 1024", "enable_bucket = true", "bucket_no_upscale = true"]
        if mask_mode == "alpha":
            lines.append("alpha_mask = true")
        for folder, repeats in sorted(folders.items()):
            lines += ["", "  [[datasets.subsets]]", f'  image_dir = "img/{folder}"', f"  num_repeats = {repeats}"]
            if mask_mode == "folder":
                lines.append(f'  conditioning_data_dir = "mask/{folder}"')
        text = ("\n".join(lines) + "\n").encode("utf-8")
        key = hashlib.sha256(text).hexdigest()
        ctx.writer.put("dataset.toml", key, lambda: text, {"role": "config"})
