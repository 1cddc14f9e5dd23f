"""Off-thread frame loading: the UI thread asks, a worker reads the store and renders, the UI applies.

Request/response in the style of napari's layer slicer: the UI thread never touches the HDF5 files
(whose lock a pipeline write may hold for tens of milliseconds), so a busy pipeline cannot stall
scrubbing. Responses are cached per (frame, resolution) and invalidated per layer by store events.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from app.errors import CelstudioError
from app.export.render import characters_alpha, decontaminate
from app.pipeline.stages.common import NOT_CHARACTER
from app.pipeline.stages.effects import read_light
from app.pipeline.under_text import under_text_viewed
from app.store import Project
from app.store.layers import PLATE_OBSERVED
from app.ui import render

log = logging.getLogger(__name__)


@dataclass
class FrameImages:
    """Rendered layers of one frame at one resolution; ``images[layer]`` is None when not computed yet."""

    frame: int
    full: bool
    size: tuple[int, int]  # (w, h) of every image here
    images: dict[str, QImage | None] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return sum(i.sizeInBytes() for i in self.images.values() if i is not None)


def default_budget() -> int:
    """Cache budget: an eighth of physical memory, between 512 MiB and 2 GiB.

    A 1080p frame with five visible layers takes about 40 MB, so 2 GiB keeps ~50 frames ready for
    instant back-and-forth scrubbing.
    """
    import psutil

    return int(min(2 << 30, max(512 << 20, psutil.virtual_memory().total // 8)))


class FrameLoader(QObject):
    """Loads and renders frames on worker threads and caches the results (LRU, byte budget).

    Signals
    -------
    loaded(FrameImages)
        A requested frame is ready (delivered on the UI thread).
    thumbnails(dict)
        ``{frame: QImage}`` for thumbnails asked with `request_thumbnails`.
    confidence(dict)
        ``{frame: mean confidence in [0, 1]}`` for frames asked with `request_confidence`.
    status(dict)
        ``{stage: status codes per frame}`` asked with `request_status`.
    error(object)
        A `CelstudioError` raised by a background read (a damaged file): the window shows it once.
    """

    loaded = Signal(object)
    thumbnails = Signal(object)
    confidence = Signal(object)
    status = Signal(object)
    failed = Signal(str)
    error = Signal(object)

    def __init__(self, project: Project, budget_bytes: int | None = None) -> None:
        super().__init__()
        self.project = project
        self.budget = budget_bytes if budget_bytes is not None else default_budget()
        self.colors: dict[int, tuple[int, int, int]] = {}
        self.kinds: dict[int, str] = {}
        self.mark_invented = True  # hatch the clean plate's invented pixels (View > Layers)
        self.plate_invented: dict[int, float] = {}  # frame -> share of its plate no frame shows
        self.active: int | None = None
        self._cache: OrderedDict[tuple[int, bool], FrameImages] = OrderedDict()
        self._lock = threading.Lock()
        self._seq = 0
        self._latest = 0
        self._frames = ThreadPoolExecutor(1, thread_name_prefix="celstudio-frames")
        self._background = ThreadPoolExecutor(1, thread_name_prefix="celstudio-bg")
        self._pending_thumbs: set[int] = set()
        self._reported: set[str] = set()

    # -- frames -------------------------------------------------------------------------------------
    def cached(self, frame: int, full: bool) -> FrameImages | None:
        with self._lock:
            entry = self._cache.get((frame, full))
            if entry is not None:
                self._cache.move_to_end((frame, full))
            return entry

    def request(self, frame: int, full: bool, layers: tuple[str, ...], prefetch: bool = False) -> FrameImages | None:
        """Return the cached images if all ``layers`` are there, else load the missing ones in the
        background (the newest non-prefetch request wins; older queued ones are skipped)."""
        entry = self.cached(frame, full)
        missing = tuple(name for name in layers if entry is None or name not in entry.images)
        if not missing:
            return entry
        with self._lock:
            self._seq += 1
            seq = self._seq
            if not prefetch:
                self._latest = seq
        self._frames.submit(self._load, seq, frame, full, missing, (dict(self.colors), self.active), prefetch)
        return None

    def invalidate(self, layer: str, frames: tuple[int, ...] | None = None) -> None:
        """Forget ``layer`` for ``frames`` (all frames when None); "image" also drops dependent cut-outs."""
        names = {layer, "alpha"} if layer == "image" else {layer}
        with self._lock:
            for (f, _full), entry in self._cache.items():
                if frames is None or f in frames:
                    for name in names:
                        entry.images.pop(name, None)

    def set_colors(self, colors: dict[int, tuple[int, int, int]]) -> None:
        if colors != self.colors:
            self.colors = dict(colors)
            self.invalidate("masks")

    def set_active(self, object_id: int | None) -> None:
        """The object clicks edit: drawn stronger, with a wider outline."""
        if object_id != self.active:
            self.active = object_id
            self.invalidate("masks")

    def _load(self, seq: int, frame: int, full: bool, layers: tuple[str, ...],
              colors: tuple[dict[int, tuple[int, int, int]], int | None], prefetch: bool) -> None:
        if not prefetch and seq < self._latest:
            return  # the user has already moved on; a newer request is queued
        try:
            images, size = self._render(frame, full, layers, colors)
        except Exception as exc:  # a failed read must reach the user, not kill the worker
            log.exception("loading frame %s failed", frame)
            self.failed.emit(f"Frame {frame} could not be loaded ({exc}).")
            self._report(exc)
            return
        with self._lock:
            entry = self._cache.get((frame, full))
            if entry is None or entry.size != size:
                entry = FrameImages(frame, full, size)
                self._cache[(frame, full)] = entry
            entry.images.update(images)
            self._cache.move_to_end((frame, full))
            self._evict()
        if not prefetch:
            self.loaded.emit(entry)

    def _evict(self) -> None:
        total = sum(e.nbytes for e in self._cache.values())
        while total > self.budget and len(self._cache) > 1:
            _key, old = self._cache.popitem(last=False)
            total -= old.nbytes

    def _base_image(self, frame: int, full: bool) -> np.ndarray:
        if not full:
            try:
                return self.project.proxy(frame)
            except KeyError:
                w, h = self.project.media.proxy_wh
                return render.fit(self.project.frame(frame), (w, h))
        return self.project.frame(frame)

    def _render(self, frame: int, full: bool, layers: tuple[str, ...],
                colors_active: tuple[dict[int, tuple[int, int, int]], int | None]
                ) -> tuple[dict[str, QImage | None], tuple[int, int]]:
        colors, active = colors_active
        base = self._base_image(frame, full)
        size = (base.shape[1], base.shape[0])
        store = self.project.layers
        out: dict[str, QImage | None] = {}
        for name in layers:
            if name == "image":
                out[name] = render.to_qimage(base)
            elif name == "masks":
                labels = store.read("masks", frame)
                out[name] = None if labels is None else render.to_qimage(
                    render.render_masks(render.fit(labels, size, nearest=True), colors, active))
            elif name == "alpha":
                alpha = store.read("alpha", frame)
                out[name] = None if alpha is None else render.to_qimage(self._cutout(frame, base, alpha, size))
            elif name == "effects":
                fx, colour = read_light(self.project, frame)
                if fx is not None and colour is not None:  # the RGBA light layer, in its own colours
                    out[name] = render.to_qimage(render.render_light(render.fit(fx, size), render.fit(colour, size)))
                else:
                    out[name] = None if fx is None else render.to_qimage(render.render_heat(render.fit(fx, size)))
            elif name == "confidence":
                conf = store.read("confidence", frame)
                out[name] = None if conf is None else render.to_qimage(
                    render.render_tint(255 - render.fit(conf, size), render.LOW_CONFIDENCE_COLOR, 0.6))
            elif name == "clean":
                plate = store.read("clean", frame)
                out[name] = None if plate is None else render.to_qimage(self._plate(frame, render.fit(plate, size), size))
        return out, size

    def _cutout(self, frame: int, base: np.ndarray, alpha: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """The characters' cut-out as export writes it: the matte within each character's label (and
        its soft edge on background, `characters_alpha`), whole under burnt-in text (`under_text`: the
        pixels it hides painted), the soft edge's colour decontaminated against the clean plate. The stored matte alone can reach far past the masks (a close-up's
        background, which the matte's gap filling takes for the character) where no export has it."""
        labels = self.project.masks_or_empty(frame)
        ut = under_text_viewed(self.project, frame)
        if ut is not None:
            if alpha.shape == ut.solid.shape == labels.shape:
                alpha = solid if (solid := ut.alpha(alpha)) is not None else alpha
                labels = ut.labels(labels)
            painted = render.fit((ut.kind > 0).view(np.uint8), size, nearest=True) > 0
            base = np.where(painted[..., None], render.fit(ut.image, size), base)
        if labels.shape == alpha.shape:
            counts = cv2.calcHist([labels], [0], None, [256], [0, 256]).ravel()
            others = set(self.project.objects.ids_of_kind(*NOT_CHARACTER))
            ids = [int(i) for i in np.flatnonzero(counts[1:]) + 1 if int(i) not in others]
            alpha = characters_alpha(labels, alpha, ids)
        shown = render.fit(alpha, size)
        clean = self.project.layers.read("clean", frame)
        if clean is not None and clean.shape[:2] == alpha.shape:
            # its soft edge's colour with the background taken out, as export writes it (`decontaminate`)
            base = decontaminate(base, shown, render.fit(clean, size))
        return render.render_cutout(base, shown)

    def _plate(self, frame: int, plate: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """The clean plate, its invented pixels hatched (`render.mark_invented`) while that is on; the
        share of invented pixels is kept in `plate_invented` for the view's label."""
        conf = self.project.layers.read("plate_confidence", frame)
        if conf is None:
            self.plate_invented.pop(frame, None)
            return plate
        invented = render.fit(conf, size, nearest=True) < PLATE_OBSERVED
        self.plate_invented[frame] = float(np.count_nonzero(conf < PLATE_OBSERVED)) / max(1, conf.size)
        return render.mark_invented(plate, invented) if self.mark_invented else plate

    def set_mark_invented(self, on: bool) -> None:
        if on != self.mark_invented:
            self.mark_invented = on
            self.invalidate("clean")

    def set_kinds(self, kinds: dict[int, str]) -> None:
        """Which objects are characters decides the cut-out: a kind change redraws it."""
        if kinds != self.kinds:
            self.kinds = dict(kinds)
            self.invalidate("alpha")

    # -- timeline data ------------------------------------------------------------------------------
    def request_thumbnails(self, frames: list[int]) -> None:
        todo = [f for f in frames if f not in self._pending_thumbs]
        if todo:
            self._pending_thumbs.update(todo)
            self._background.submit(self._load_thumbs, todo)

    def _load_thumbs(self, frames: list[int]) -> None:
        result: dict[int, QImage] = {}
        for f in frames:
            try:
                result[f] = render.to_qimage(self.project.thumbnail(f))
            except KeyError:
                try:  # projects imported before thumbnails existed: shrink the proxy instead
                    small = np.asarray(cv2.resize(self.project.proxy(f), self.project.media.thumb_wh), np.uint8)
                    result[f] = render.to_qimage(small)
                except KeyError:
                    continue
            except Exception as exc:  # a missing thumbnail stays blank; a damaged file is reported
                self._report(exc)
                continue
        self.thumbnails.emit(result)

    def _report(self, exc: BaseException) -> None:
        """Send a user-facing error raised on a worker thread to the UI, once per message (a damaged
        file fails every read after the first; one dialog says it)."""
        if isinstance(exc, CelstudioError) and str(exc) not in self._reported:
            self._reported.add(str(exc))
            self.error.emit(exc)

    def request_confidence(self, frames: list[int] | None = None) -> Future[None]:
        def job() -> None:
            try:
                self._load_confidence(frames)
            except Exception as exc:
                log.exception("confidence failed")
                self._report(exc)

        return self._background.submit(job)

    def _load_confidence(self, frames: list[int] | None) -> None:
        store = self.project.layers
        if frames is None:
            frames = [int(f) for f in np.flatnonzero(store.versions("confidence"))]
        values: dict[int, float] = {}
        for f in frames:
            values[f] = render.confidence_mean(store.read("confidence", f))
            if len(values) >= 256:  # stream partial results so a long project fills in progressively
                self.confidence.emit(values)
                values = {}
        if values:
            self.confidence.emit(values)

    def request_status(self, compute: Callable[[], dict[str, np.ndarray]]) -> None:
        """Compute stage status strips off the UI thread (they read every frame's records)."""

        def job() -> None:
            try:
                self.status.emit(compute())
            except Exception as exc:  # the log keeps the cause; a damaged index reaches the user
                log.exception("stage status failed")
                self._report(exc)

        self._background.submit(job)

    def close(self) -> None:
        self._frames.shutdown(wait=True, cancel_futures=True)
        self._background.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            self._cache.clear()
