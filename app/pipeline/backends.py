"""The runner's backends: its settings, which backend fills each role, the device, and memory.

Backends load lazily, on first use (on the runner's worker thread, never on a caller's), on the one
device `models.device.choose_device` picks for the whole set; a deep backend whose weights are
missing or broken falls back on the weight-free one with a notice.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, cast, overload

from app.pipeline.graph import ROLE_OF_STAGE
from models.base import (
    Annotator,
    Backend,
    ClickSegmenter,
    EffectSeparator,
    Inpainter,
    Matter,
    Propagator,
    Role,
    Segmenter,
)
from models.device import choose_device, needs_torch
from models.registry import weight_free

log = logging.getLogger(__name__)


@dataclass
class PipelineSettings:
    """Backend per role (``classical`` unless weights are installed), device and batch sizes."""

    backends: dict[str, str] = field(default_factory=dict)
    device: str = "auto"
    batch_size: int = 4
    propagation_chunk: int = 12
    propagate_override: float | None = None  # see app.pipeline.stages.run_propagate
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    low_memory_bytes: int = 1_500_000_000

    def backend_name(self, role: str) -> str:
        return self.backends.get(role, "classical")

    @property
    def weight_free(self) -> bool:
        return all(weight_free(r, self.backend_name(r)) for r in ROLE_OF_STAGE.values())


class Backends:
    """The loaded backend of each role for one runner; thread-safe.

    ``preset`` fixes role -> backend instances (scripting and tests, whose small fakes implement only
    the methods their test reaches); they are used as given, and released only when the runner stops
    (a preset cannot be loaded again by name after a low-memory release).
    """

    def __init__(self, settings: PipelineSettings, preset: Mapping[str, object] | None = None) -> None:
        self.settings = settings
        self.notices: list[str] = []
        self._loaded: dict[str, Backend] = {role: cast(Backend, b) for role, b in (preset or {}).items()}
        self._preset = frozenset(self._loaded)
        self._device: str | None = None
        self._lock = threading.RLock()

    def device(self) -> str:
        """The device every deep backend of this runner loads on (chosen once)."""
        with self._lock:
            if self._device is None:
                self._device = choose_device(self.settings.device, weight_free=self.settings.weight_free)
            return self._device

    @property
    def device_in_use(self) -> str | None:
        """The device, or None while choosing it would import torch and no backend has loaded yet
        (asking must stay cheap: a label on the UI thread asks)."""
        if self._device is None and not needs_torch(self.settings.device, weight_free=self.settings.weight_free):
            return self.device()
        return self._device

    @overload
    def get(self, role: Literal["segmenter"]) -> Segmenter: ...
    @overload
    def get(self, role: Literal["matter"]) -> Matter: ...
    @overload
    def get(self, role: Literal["effects"]) -> EffectSeparator: ...
    @overload
    def get(self, role: Literal["inpainter"]) -> Inpainter: ...
    @overload
    def get(self, role: Literal["propagator"]) -> Propagator: ...
    @overload
    def get(self, role: Literal["clicker"]) -> ClickSegmenter: ...
    @overload
    def get(self, role: Literal["annotator"]) -> Annotator: ...
    @overload
    def get(self, role: str) -> Backend: ...

    def get(self, role: str) -> Backend:
        """The loaded backend for ``role``; a deep one without weights falls back with a notice."""
        with self._lock:
            if role not in self._loaded:
                from models.registry import create_with_fallback

                backend, message = create_with_fallback(
                    cast(Role, role), self.settings.backend_name(role), device=self.device(),
                    batch_size=self.settings.batch_size,
                )
                if message:
                    self.notices.append(message)
                    self.settings.backends[role] = "classical"
                    log.warning(message)
                self._loaded[role] = backend
            return self._loaded[role]

    def name(self, role: str) -> str:
        """The name of the backend really used for ``role`` (after any fallback)."""
        self.get(role)
        return self.settings.backend_name(role)

    def release(self, *, keep_preset: bool = False) -> None:
        """Release and drop the loaded backends (they load again on next use)."""
        with self._lock:
            dropped = [r for r in self._loaded if not (keep_preset and r in self._preset)]
            loaded = [self._loaded.pop(r) for r in dropped]
        for backend in loaded:
            try:
                backend.release()
            except Exception:
                log.exception("release failed")

    def relieve_memory(self) -> None:
        """Release the backends when the machine runs low on memory (between jobs)."""
        import psutil

        if psutil.virtual_memory().available < self.settings.low_memory_bytes:
            self.release(keep_preset=True)
