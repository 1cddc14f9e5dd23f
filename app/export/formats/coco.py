"""COCO instance segmentation (with the video extension fields) and RLE masks.

``images/fNNNNNN.png`` and ``annotations.json``: ``videos`` (one per shot), ``images`` (with
``video_id``, ``frame_id`` within the shot and ``frame_index`` in the project), ``categories``
(one per object: id, name, supercategory = kind, identity) and ``annotations`` (compressed RLE
``segmentation`` from pycocotools, ``area``, ``bbox`` [x, y, w, h], ``iscrowd`` 0, ``instance_id``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from app.export.core import ExportContext, FrameData, Output
from app.export.formats.common import png_level
from app.export.naming import safe_relpath
from app.export.render import encode_png


def rle(mask: np.ndarray) -> dict[str, Any]:
    """Compressed COCO RLE of a bool mask, with ``counts`` as text so it survives JSON."""
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in encoded["size"]], "counts": encoded["counts"].decode("ascii")}


class CocoFormat:
    """See the module docstring."""

    name = "coco"
    per_object = False

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    def frame_outputs(self, ctx: ExportContext, fd: FrameData) -> list[Output]:
        level = png_level(ctx)
        shot = ctx.project.shots[fd.item.shot]
        anns = []
        for oid in fd.item.objects:
            m = fd.labels == oid
            enc = rle(m)
            box = mask_utils.toBbox({**enc, "counts": enc["counts"].encode("ascii")}).tolist()
            anns.append({"category_id": oid, "instance_id": oid, "segmentation": enc, "area": int(m.sum()),
                         "bbox": [float(v) for v in box], "iscrowd": 0})
        record = {"frame_index": fd.frame, "video_id": fd.item.shot + 1, "frame_id": fd.frame - shot.start,
                  "width": ctx.project.width, "height": ctx.project.height, "annotations": anns}
        rel = safe_relpath("images", f"f{fd.frame:06d}.png")
        return [Output(rel, lambda: encode_png(fd.image, level), {**ctx.base_info(fd), "role": "image"}, record)]

    def finish(self, ctx: ExportContext) -> None:
        images: list[dict[str, Any]] = []
        annotations: list[dict[str, Any]] = []
        for image_id, rec in enumerate(sorted(ctx.records, key=lambda r: r["frame_index"]), start=1):
            images.append({"id": image_id, "file_name": rec["file_name"].split("/", 1)[1], "width": rec["width"],
                           "height": rec["height"], "video_id": rec["video_id"], "frame_id": rec["frame_id"],
                           "frame_index": rec["frame_index"]})
            for ann in rec["annotations"]:
                annotations.append({"id": len(annotations) + 1, "image_id": image_id, **ann})
        videos = [{"id": i + 1, "name": f"shot_{i:04d}", "start": s.start, "end": s.end}
                  for i, s in enumerate(ctx.project.shots)]
        categories = [{"id": o.id, "name": o.name, "supercategory": o.kind, "identity": o.identity,
                       "confirmed": o.confirmed} for o in ctx.project.manifest.objects]
        doc = {"info": {"description": f"Celstudio export of {ctx.project.manifest.name}", "version": "1.0"},
               "licenses": [], "videos": videos, "images": images, "annotations": annotations,
               "categories": categories}
        data = json.dumps(doc, sort_keys=True).encode("utf-8")
        ctx.writer.put("annotations.json", hashlib.sha256(data).hexdigest(), lambda: data, {"role": "annotations"})
