"""Hugging Face ``datasets`` imagefolder and WebDataset tar shards.

``hf``: ``train/<stem>.png`` plus ``train/metadata.jsonl`` (``file_name``, ``text``, ``tags``,
``characters``, ``frame``, ``shot``, ``object_ids``, ``mask_file``), loadable with
``datasets.load_dataset("imagefolder", data_dir=out)``; masks go to ``masks/<stem>.png`` (outside
``train/`` so the loader does not take them for samples).

``webdataset``: ``shards/shard-NNNNNN.tar`` with ``shard_size`` samples each (default 256); a sample
``<stem>`` holds ``<stem>.png``, ``<stem>.mask.png``, ``<stem>.txt`` and ``<stem>.json``. Tar headers
carry fixed times and owners, so the same samples give the same bytes and an unchanged shard is skipped.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from app.export.core import ExportContext, FrameData, Output
from app.export.formats.common import Sample, object_tags, png_level, samples, unit
from app.export.manifest import digest
from app.export.naming import ExportError, resolve_inside, safe_relpath
from app.export.render import encode_png, png_job
from app.export.selection import FrameItem


def _meta(ctx: ExportContext, fd: FrameData, s: Sample) -> dict[str, Any]:
    tags = object_tags(fd, s.object_ids[0]) if len(s.object_ids) == 1 and unit(ctx) == "character" else fd.tags
    return {"text": s.caption, "tags": tags, "characters": s.triggers, "frame": fd.frame, "shot": fd.item.shot,
            "object_ids": s.object_ids}


class HFFormat:
    """See the module docstring."""

    name = "hf"

    def __init__(self, options: dict[str, Any]) -> None:
        self.per_object = str(options.get("unit", "character")) == "character"

    def frame_outputs(self, ctx: ExportContext, fd: FrameData) -> list[Output]:
        level = png_level(ctx)
        outs = []
        for s in samples(ctx, fd):
            info = {**ctx.base_info(fd, s.object_ids[0] if self.per_object else None), "objects": s.object_ids}
            mask_rel = safe_relpath("masks", f"{s.stem}.png")
            record = {**_meta(ctx, fd, s), "mask_file": mask_rel}
            outs.append(Output(safe_relpath("train", f"{s.stem}.png"), png_job(s.image, level),
                               {**info, "role": "image"}, record, key_extra=s.caption))
            outs.append(Output(mask_rel, png_job(s.mask, level), {**info, "role": "mask"}))
        return outs

    def finish(self, ctx: ExportContext) -> None:
        rows = sorted(ctx.records, key=lambda r: r["file_name"])
        lines = [json.dumps({**r, "file_name": r["file_name"].split("/", 1)[1]}, sort_keys=True) for r in rows]
        data = ("\n".join(lines) + "\n").encode("utf-8")
        ctx.writer.put("train/metadata.jsonl", hashlib.sha256(data).hexdigest(), lambda: data, {"role": "metadata"})


def _tar_add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uid, info.gid = len(data), 0, 0o644, 0, 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


class WebDatasetFormat:
    """See the module docstring."""

    name = "webdataset"

    def __init__(self, options: dict[str, Any]) -> None:
        self.per_object = str(options.get("unit", "character")) == "character"
        try:
            self.shard_size = int(options.get("shard_size", 256))
        except ValueError as exc:
            raise ExportError("shard_size must be a whole number.") from exc
        if self.shard_size < 1:
            raise ExportError("shard_size must be at least 1.")

    def frame_outputs(self, ctx: ExportContext, fd: FrameData) -> list[Output]:
        # Samples are only noted here (cheap: names and source versions); shards are rendered in
        # finish(), and only those whose samples changed.
        ctx.records.append({"item": fd.item, "sources": fd.sources, "objects": list(fd.item.objects)})
        return []

    def _render(self, ctx: ExportContext, item: FrameItem) -> list[tuple[str, bytes]]:
        level = png_level(ctx)
        fd = FrameData(ctx.project, item)
        members = []
        for s in samples(ctx, fd):
            meta = {**_meta(ctx, fd, s), "sources": fd.sources}
            members += [(f"{s.stem}.png", encode_png(s.image, level)), (f"{s.stem}.mask.png", encode_png(s.mask, level)),
                        (f"{s.stem}.txt", s.caption.encode("utf-8")),
                        (f"{s.stem}.json", json.dumps(meta, sort_keys=True, default=str).encode("utf-8"))]
        return members

    def finish(self, ctx: ExportContext) -> None:
        recs = sorted(ctx.records, key=lambda r: r["item"].frame)
        header = ctx.writer.header
        base = digest({k: header.get(k) for k in ("format", "options", "exporter", "objects")})
        for n, start in enumerate(range(0, len(recs), self.shard_size)):
            part = recs[start:start + self.shard_size]
            rel = safe_relpath("shards", f"shard-{n:06d}.tar")
            key = digest([base, [(r["item"].frame, r["objects"], r["sources"]) for r in part]])
            info = {"role": "shard", "frames": [r["item"].frame for r in part],
                    "shots": sorted({r["item"].shot for r in part}), "sources": {str(r["item"].frame): r["sources"] for r in part}}
            if ctx.writer.fresh(rel, key):
                ctx.writer.put(rel, key, lambda: b"", info)
                continue
            target = resolve_inside(ctx.writer.out, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            try:
                with ThreadPoolExecutor(max_workers=2) as pool, tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
                    for members in pool.map(lambda r: self._render(ctx, r["item"]), part):
                        for name, data in members:
                            _tar_add(tar, name, data)
                with open(tmp, "rb+") as fh:
                    os.fsync(fh.fileno())
                ctx.writer.adopt(rel, key, tmp, info)
            finally:
                tmp.unlink(missing_ok=True)
