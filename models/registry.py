"""The one static table of backends, imported lazily by module path.

Every role has a weight-free ``classical`` backend that always works, and optional deep backends whose
weights come from the `models.manager.ModelManager`. Nothing here imports a backend module until that
backend is created, so listing backends never pulls in torch.

Constructors follow one convention: classical backends take ``**options``; deep backends take
``weights: Path | None = None, **options`` and raise `models.errors.ModelUnavailable` (from ``__init__`` or
``load``) when their weights or dependencies are missing or corrupt.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.base import Role
from models.errors import ModelUnavailable
from models.manager import ModelManager

CLASSICAL = "classical"


@dataclass(frozen=True)
class BackendSpec:
    """One backend: where its class lives and which catalog weights can serve it.

    Attributes
    ----------
    role : Role
        The pipeline slot it fills.
    name : str
        Backend name within the role (``"classical"`` for the weight-free one).
    label : str
        Human-readable name for menus and messages.
    module, cls : str
        Import path and class name, imported only when the backend is created.
    models : tuple[str, ...]
        Catalog entries whose weights it can use, in order of preference; empty for weight-free.
    companions : tuple[tuple[str, tuple[str, ...]], ...]
        Optional extra models, as ``(option, catalog entries)``: the first installed and verified entry
        is passed as ``option=path`` (e.g. the CLIP annotator's DINOv2 and BLIP-2 folders).
    """

    role: Role
    name: str
    label: str
    module: str
    cls: str
    models: tuple[str, ...] = ()
    companions: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def needs_weights(self) -> bool:
        return bool(self.models)


BACKENDS: tuple[BackendSpec, ...] = (
    BackendSpec(
        "segmenter",
        CLASSICAL,
        "Classical (background-plate difference)",
        "models.classical.segmentation",
        "ClassicalSegmenter",
    ),
    BackendSpec(
        "segmenter",
        "bothways",
        "Classical, tracked both ways (keeps characters hidden at a shot's start apart)",
        "models.classical.segmentation",
        "BothWaysSegmenter",
    ),
    BackendSpec(
        "segmenter",
        "mask2former",
        "Mask2Former (panoptic)",
        "models.mask2former",
        "Mask2FormerSegmenter",
        ("mask2former-swin-tiny", "mask2former-swin-large"),
    ),
    BackendSpec(
        "matter", CLASSICAL, "Classical (trimap matting)", "models.classical.matting", "ClassicalMatter"
    ),
    BackendSpec("matter", "u2net", "U\u00b2-Net", "models.u2net", "U2NetMatter", ("u2net",)),
    BackendSpec(
        "matter", "isnet", "ISNet (anime)", "models.isnet", "ISNetMatter", ("isnet-anime", "isnet-general")
    ),
    BackendSpec("matter", "modnet", "MODNet", "models.modnet", "MODNetMatter", ("modnet",)),
    BackendSpec(
        "effects",
        CLASSICAL,
        "Classical (additive-light detection)",
        "models.classical.effects",
        "ClassicalEffectSeparator",
    ),
    BackendSpec("effects", "clipseg", "CLIPSeg", "models.clipseg", "ClipSegEffectSeparator", ("clipseg",)),
    BackendSpec(
        "inpainter",
        CLASSICAL,
        "Classical",
        "models.classical.inpaint",
        "ClassicalInpainter",
    ),
    BackendSpec(
        "inpainter",
        "patchfill",
        "Classical, patch fill (copies the background's texture into what no frame shows)",
        "models.classical.inpaint",
        "PatchFillInpainter",
    ),
    BackendSpec("inpainter", "lama", "LaMa", "models.lama", "LamaInpainter", ("big-lama",)),
    BackendSpec(
        "propagator", CLASSICAL, "Classical (optical flow)", "models.classical.propagation", "FlowPropagator"
    ),
    BackendSpec("propagator", "xmem", "XMem", "models.xmem", "XMemPropagator", ("xmem",)),
    BackendSpec("clicker", CLASSICAL, "Classical (edge-aware regions + graph cut)", "models.classical.clicks", "RegionClicker"),
    BackendSpec(
        "clicker",
        "sam",
        "Segment Anything",
        "models.sam",
        "SamClicker",
        ("sam-vit-b", "sam-vit-l", "sam-vit-h"),
    ),
    BackendSpec(
        "annotator",
        CLASSICAL,
        "Classical",
        "models.classical.annotate",
        "ClassicalAnnotator",
    ),
    BackendSpec(
        "annotator",
        "clip",
        "CLIP",
        "models.annotators",
        "ClipAnnotator",
        ("clip-vit-base-patch32", "clip-vit-large-patch14"),
        (("dinov2", ("dinov2-base", "dinov2-small")), ("blip2", ("blip2-opt-2.7b",)), ("aesthetic", ("aesthetic-l14",))),
    ),
)

_INDEX: dict[tuple[str, str], BackendSpec] = {(s.role, s.name): s for s in BACKENDS}


def backends(role: Role) -> list[BackendSpec]:
    """The backends of ``role``, classical first."""
    return [s for s in BACKENDS if s.role == role]


def weight_free(role: str, name: str) -> bool:
    """True for a backend that needs no weights: ``classical`` and its variants (patch fill, ...),
    which are numpy/OpenCV code that never imports torch and read the shot's camera."""
    s = _INDEX.get((role, name))
    return name == CLASSICAL or (s is not None and not s.needs_weights)


def spec(role: Role, name: str) -> BackendSpec:
    """The backend ``name`` of ``role``; `ModelUnavailable` when there is none."""
    try:
        return _INDEX[(role, name)]
    except KeyError:
        known = ", ".join(s.name for s in backends(role)) or "none"
        raise ModelUnavailable(f"There is no {role} backend named {name!r} (known: {known}).") from None


def backend_class(s: BackendSpec) -> type[Any]:
    """Import the backend's module and return its class (the lazy step)."""
    return getattr(importlib.import_module(s.module), s.cls)  # type: ignore[no-any-return]


def _installed_model(s: BackendSpec, manager: ModelManager, model: str | None) -> tuple[str | None, str]:
    """The first usable catalog entry for ``s`` (or ``model`` if asked for), else why there is none."""
    candidates = (model,) if model is not None else s.models
    for name in candidates:
        if manager.path(name) is not None:
            if manager.is_verified(name):
                return name, ""
            return None, (f"weights for {name} are corrupt: run `celstudio models download {name}` again")
    first = candidates[0]
    return None, f"weights for {first} not installed: run `celstudio models download {first}`"


def availability(s: BackendSpec, manager: ModelManager | None = None) -> tuple[bool, str]:
    """Whether ``s`` can be created now: weights present and verified (always true for classical)."""
    if not s.needs_weights:
        return True, ""
    name, reason = _installed_model(s, manager if manager is not None else ModelManager(), None)
    return name is not None, reason


def create_backend(role: Role, name: str, manager: ModelManager | None = None, *,
                   batch_size: int | None = None, **options: Any) -> Any:
    """Create backend ``name`` of ``role``.

    For a deep backend the weights path comes from ``manager`` (``model=`` picks one catalog entry,
    e.g. ``model="sam-vit-h"``) and is passed as ``weights=path``. Raises `ModelUnavailable` when the
    weights are missing or corrupt. ``batch_size`` (the user's setting) reaches the deep backends,
    which batch frames on the device; the classical ones work a frame at a time and do not take it.
    """
    s = spec(role, name)
    if not s.needs_weights:
        return backend_class(s)(**options)
    if batch_size is not None:
        options.setdefault("batch_size", batch_size)
    # Weights are resolved before the import, so a missing file never costs a torch import.
    model = options.pop("model", None)
    if model is not None and model not in s.models:
        raise ModelUnavailable(
            f"{model} is not a weights file for {s.label}; use one of {', '.join(s.models)}."
        )
    mgr = manager if manager is not None else ModelManager()
    chosen, reason = _installed_model(s, mgr, model)
    if chosen is None:
        raise ModelUnavailable(f"{s.label}: {reason}.")
    path: Path | None = mgr.path(chosen)
    for option, entries in s.companions:
        if option not in options:
            found = next((e for e in entries if mgr.path(e) is not None and mgr.is_verified(e)), None)
            if found is not None:
                options[option] = mgr.path(found)
    return backend_class(s)(weights=path, **options)


def create_with_fallback(
    role: Role,
    name: str,
    manager: ModelManager | None = None,
    device: str | None = None,
    *,
    batch_size: int | None = None,
    **options: Any,
) -> tuple[Any, str | None]:
    """Create ``name`` of ``role``, falling back on the classical backend when it is unavailable.

    When ``device`` is given the backend is also loaded there, so weights found corrupt by ``load``
    also fall back. Returns the backend and ``None``, or the classical backend and a message saying
    why the requested one is not in use.
    """
    try:
        backend = create_backend(role, name, manager, batch_size=batch_size, **options)
        if device is not None:
            backend.load(device)
        return backend, None
    except ModelUnavailable as exc:
        if name == CLASSICAL:
            raise
        fallback = create_backend(role, CLASSICAL)
        if device is not None:
            fallback.load(device)
        label = spec(role, CLASSICAL).label
        message = str(exc).rstrip(".")
        return fallback, f"{message}; using the weight-free {label} {role} instead."
