"""The small common interface every model backend implements.

A backend fills one *role* (a pipeline slot). Arrays follow one convention everywhere:

- image: ``uint8`` RGB, shape ``(H, W, 3)``
- mask: ``bool``, shape ``(H, W)``
- labels: ``uint8`` object-id map, shape ``(H, W)``; 0 is background, 1..255 are objects
- alpha / soft maps: ``float32`` in ``[0, 1]``, shape ``(H, W)``

Frames of a shot are passed as a ``Sequence[np.ndarray]`` that may be lazy (decoded on access), so a
backend must not assume the whole shot sits in memory. Backends never import Qt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

Image = NDArray[np.uint8]
Mask = NDArray[np.bool_]
Labels = NDArray[np.uint8]
SoftMap = NDArray[np.float32]

Role = Literal["segmenter", "matter", "effects", "inpainter", "propagator", "clicker", "annotator"]
ObjectKind = Literal["character", "effect", "prop", "text"]


@dataclass(frozen=True)
class Prompt:
    """Interactive prompts on one frame: clicks ``(x, y, positive)`` in pixels and an optional box."""

    points: tuple[tuple[float, float, bool], ...] = ()
    box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1


@dataclass
class FrameSegmentation:
    """Segment output for one frame: an object-id map and what each id is."""

    labels: Labels
    kinds: dict[int, ObjectKind] = field(default_factory=dict)
    confidence: SoftMap | None = None


@dataclass
class Propagation:
    """Propagate output for one frame."""

    labels: Labels
    confidence: SoftMap  # per-pixel confidence in [0, 1]


@dataclass
class FrameAnnotation:
    """Annotate output for one frame."""

    tags: list[str]
    caption: str
    embedding: NDArray[np.float32] | None = None
    extra: dict[str, object] = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    """What every backend has. ``load`` raises `models.errors.ModelUnavailable` when weights are missing."""

    name: ClassVar[str]
    role: ClassVar[Role]

    def load(self, device: str = "cpu") -> None: ...

    def release(self) -> None: ...


class Segmenter(Backend, Protocol):
    """The segment stage: coarse character / effect / background objects for every frame of one shot."""

    def segment_shot(self, frames: Sequence[Image]) -> list[FrameSegmentation]: ...


class Matter(Backend, Protocol):
    """The matte stage: an alpha matte for the characters in ``mask``."""

    def matte(self, image: Image, mask: Mask) -> SoftMap: ...


class EffectSeparator(Backend, Protocol):
    """The effects stage: per-pixel effect strength. ``plate`` is the shot's background plate when known."""

    def separate(self, image: Image, character_mask: Mask, plate: Image | None) -> SoftMap: ...


class Inpainter(Backend, Protocol):
    """The inpaint stage: clean background plates, one per frame, with ``holes[i]`` filled in ``frames[i]``."""

    def clean_plates(self, frames: Sequence[Image], holes: Sequence[Mask]) -> list[Image]: ...


Direction = Literal["forward", "backward", "both"]  # which way a propagation runs from its seeds


class Propagator(Backend, Protocol):
    """The propagate stage: propagate label maps through a shot from seed frames (user-corrected = permanent).

    ``seeds`` maps frame index (within ``frames``) to its trusted labels. The result has one entry per
    frame; seed frames come back unchanged with confidence 1.
    """

    def propagate(
        self,
        frames: Sequence[Image],
        seeds: dict[int, Labels],
        direction: Direction = "both",
    ) -> list[Propagation]: ...


class ClickSegmenter(Backend, Protocol):
    """Interactive correction: refine ``prior`` (the object's current mask) with clicks and a box."""

    def predict(self, image_id: str, image: Image, prompt: Prompt, prior: Mask | None) -> Mask: ...


@runtime_checkable
class PreparesImages(Protocol):
    """A click model that can compute an image's embedding ahead of the click (SAM's encoder is the
    slow part of a click); the runner calls it for the frames around the one the user looks at."""

    def precompute(self, image_id: str, image: Image) -> None: ...


class Annotator(Backend, Protocol):
    """The annotate stage: tags, caption and an embedding for one frame and its object labels."""

    def annotate(self, image: Image, labels: Labels, kinds: dict[int, ObjectKind]) -> FrameAnnotation: ...
