"""Export formats, by the name ``--format`` takes."""

from __future__ import annotations

from app.export.core import Format
from app.export.formats.coco import CocoFormat
from app.export.formats.hf import HFFormat, WebDatasetFormat
from app.export.formats.kohya import KohyaFormat
from app.export.formats.layers import LayersFormat

FORMATS: dict[str, type[Format]] = {
    "kohya": KohyaFormat,
    "layers": LayersFormat,
    "coco": CocoFormat,
    "hf": HFFormat,
    "webdataset": WebDatasetFormat,
}
