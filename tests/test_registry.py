"""The backend table: lazy imports, availability messages, classical fallback."""

from __future__ import annotations

import inspect
import subprocess
import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import pytest

from app.errors import ModelUnavailable
from models import registry
from models.catalog import CATALOG, ModelEntry, catalog_by_name
from models.manager import ModelManager
from models.registry import BACKENDS, BackendSpec


@pytest.mark.parametrize("s", BACKENDS, ids=lambda s: f"{s.role}-{s.name}")
def test_table_entry_imports_lazily(s: BackendSpec) -> None:
    cls = registry.backend_class(s)  # a table entry whose module is gone fails here, never skips
    assert inspect.isclass(cls) and cls.__name__ == s.cls
    assert getattr(cls, "role", None) == s.role
    if s.needs_weights:
        assert "weights" in inspect.signature(cls.__init__).parameters


def test_table_is_consistent_with_catalog() -> None:
    catalog = catalog_by_name()
    roles = {s.role for s in BACKENDS}
    assert roles == {"segmenter", "matter", "effects", "inpainter", "propagator", "clicker", "annotator"}
    for role in roles:
        assert registry.backends(role)[0].name == "classical"  # type: ignore[arg-type]
    assert len({(s.role, s.name) for s in BACKENDS}) == len(BACKENDS)
    for s in BACKENDS:
        for model in s.models:
            assert catalog[model].role == s.role and catalog[model].backend == s.name
    assert all(len(e.sha256) == 64 for e in CATALOG if e.sha256 is not None)


def test_listing_and_availability_import_no_backend_and_no_torch(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from models import registry as r; "
        "from models.manager import ModelManager; m = ModelManager(Path(sys.argv[1])); "
        "[r.availability(s, m) for s in r.BACKENDS]; m.list(); "
        "print(' '.join(sorted(k for k in sys.modules if k.startswith(('models', 'torch')))))"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], cwd=root, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == [
        "models",
        "models.base",
        "models.catalog",
        "models.download",
        "models.errors",
        "models.manager",
        "models.registry",
    ]


def test_availability_says_not_installed(tmp_path: Path) -> None:
    mgr = ModelManager(tmp_path)
    for s in BACKENDS:
        ok, reason = registry.availability(s, mgr)
        if s.needs_weights:
            assert not ok
            assert (
                reason
                == f"weights for {s.models[0]} not installed: run `celstudio models download {s.models[0]}`"
            )
        else:
            assert (ok, reason) == (True, "")


def test_unknown_backend_is_a_clear_error() -> None:
    with pytest.raises(ModelUnavailable, match="no clicker backend named 'nope'"):
        registry.spec("clicker", "nope")


# ---- fake backends, so fallback is tested whatever other modules exist -----------------------------
class FakeClassical:
    name: ClassVar[str] = "classical"
    role: ClassVar[str] = "clicker"

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.device: str | None = None

    def load(self, device: str = "cpu") -> None:
        self.device = device


class FakeDeep:
    name: ClassVar[str] = "deep"
    role: ClassVar[str] = "clicker"

    def __init__(self, weights: Path | None = None, **options: Any) -> None:
        self.weights = weights
        self.options = options

    def load(self, device: str = "cpu") -> None:
        if self.weights is None or self.weights.read_bytes() != b"good weights":
            raise ModelUnavailable("The fake checkpoint does not load.")


@pytest.fixture
def fake_table(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModelManager:
    module = types.ModuleType("celstudio_fake_backends")
    module.FakeClassical = FakeClassical  # type: ignore[attr-defined]
    module.FakeDeep = FakeDeep  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "celstudio_fake_backends", module)
    table = (
        BackendSpec("clicker", "classical", "Fake classical", "celstudio_fake_backends", "FakeClassical"),
        BackendSpec(
            "clicker", "deep", "Fake deep", "celstudio_fake_backends", "FakeDeep", ("fake-a", "fake-b")
        ),
    )
    monkeypatch.setattr(registry, "BACKENDS", table)
    monkeypatch.setattr(registry, "_INDEX", {(s.role, s.name): s for s in table})
    entries = tuple(
        ModelEntry(n, "clicker", "deep", "http://127.0.0.1:9/x", None, None, "test", "pth", f"{n}.pth")
        for n in ("fake-a", "fake-b")
    )
    return ModelManager(tmp_path / "weights", catalog=entries)


def test_fallback_when_weights_missing(fake_table: ModelManager) -> None:
    backend, message = registry.create_with_fallback("clicker", "deep", fake_table, device="cpu", mode="x")
    assert isinstance(backend, FakeClassical) and backend.device == "cpu" and backend.options == {}
    assert message is not None
    assert "weights for fake-a not installed: run `celstudio models download fake-a`" in message
    assert message.endswith("using the weight-free Fake classical clicker instead.")


def test_deep_backend_gets_weights_path(fake_table: ModelManager, tmp_path: Path) -> None:
    src = tmp_path / "b.pth"
    src.write_bytes(b"good weights")
    installed = fake_table.install_local("fake-b", src)  # only the second preference is present
    backend, message = registry.create_with_fallback("clicker", "deep", fake_table, device="cpu", mode="x")
    assert message is None and isinstance(backend, FakeDeep)
    assert backend.weights == installed and backend.options == {"mode": "x"}
    with pytest.raises(ModelUnavailable, match="fake-a not installed"):
        registry.create_backend("clicker", "deep", fake_table, model="fake-a")


def test_batch_size_reaches_deep_backends_only(fake_table: ModelManager, tmp_path: Path) -> None:
    src = tmp_path / "a.pth"
    src.write_bytes(b"good weights")
    fake_table.install_local("fake-a", src)
    deep, _ = registry.create_with_fallback("clicker", "deep", fake_table, batch_size=6)
    assert isinstance(deep, FakeDeep) and deep.options == {"batch_size": 6}
    classical, _ = registry.create_with_fallback("clicker", "classical", fake_table, batch_size=6)
    assert isinstance(classical, FakeClassical) and classical.options == {}


def test_fallback_when_load_or_checksum_fails(fake_table: ModelManager, tmp_path: Path) -> None:
    src = tmp_path / "a.pth"
    src.write_bytes(b"bad weights!")
    fake_table.install_local("fake-a", src)
    backend, message = registry.create_with_fallback("clicker", "deep", fake_table, device="cpu")
    assert isinstance(backend, FakeClassical) and message is not None and "does not load" in message
    path = fake_table.path("fake-a")
    assert path is not None
    path.write_bytes(b"tampered....")  # same size, new content: the recorded hash no longer matches
    ok, reason = registry.availability(registry.spec("clicker", "deep"), fake_table)
    assert not ok and "corrupt" in reason


def test_real_table_fallback(tmp_path: Path) -> None:
    backend, message = registry.create_with_fallback("clicker", "sam", ModelManager(tmp_path))
    assert type(backend).__name__ == "RegionClicker"
    assert message is not None and "celstudio models download sam-vit-b" in message


class _StubManager:
    """Duck-typed manager: these entries are installed and verified at fake paths."""

    def __init__(self, installed: dict[str, Path]) -> None:
        self.installed = installed

    def path(self, name: str) -> Path | None:
        return self.installed.get(name)

    def is_verified(self, name: str) -> bool:
        return name in self.installed


def test_companion_models_reach_the_annotator(tmp_path: Path) -> None:
    from models.registry import create_backend

    installed = {"clip-vit-base-patch32": tmp_path / "clip", "dinov2-small": tmp_path / "dino"}
    backend = create_backend("annotator", "clip", _StubManager(installed))  # type: ignore[arg-type]
    assert backend.weights == tmp_path / "clip"
    assert backend.dinov2_path == tmp_path / "dino"
    assert backend.blip2_path is None


def _unusable_weights(tmp_path: Path) -> list[Path | None]:
    """None, a missing path, a file of garbage, a foreign (but loadable) checkpoint, an empty folder."""
    import torch

    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint at all")
    foreign = tmp_path / "foreign.pth"
    torch.save({"linear.weight": torch.zeros(2, 2)}, foreign)
    empty = tmp_path / "empty"
    empty.mkdir()
    return [None, tmp_path / "missing.pth", garbage, foreign, empty]


@pytest.mark.parametrize("s", [s for s in BACKENDS if s.needs_weights], ids=lambda s: f"{s.role}-{s.name}")
def test_unusable_weights_are_model_unavailable(s: BackendSpec, tmp_path: Path) -> None:
    # Every deep backend, whatever its format, turns unusable weights into the one error the
    # registry falls back on; anything else would reach the user as a crash.
    cls = registry.backend_class(s)
    for weights in _unusable_weights(tmp_path):
        with pytest.raises(ModelUnavailable):
            cls(weights).load("cpu")


def test_weight_free_variants_are_weight_free_and_read_the_camera() -> None:
    """The menu's weight-free variants (patch fill, the both-ways segmenter) run as the classical backends
    do: stitched through the shot's camera, on every worker, without torch. Compared by name they were
    taken for deep backends and handed no camera."""
    from app.pipeline.graph import uses_camera

    assert registry.weight_free("inpainter", "patchfill") and registry.weight_free("segmenter", "bothways")
    assert not registry.weight_free("inpainter", "lama") and not registry.weight_free("segmenter", "mask2former")
    assert uses_camera("inpaint", "patchfill") and uses_camera("segment", "bothways")
    assert uses_camera("inpaint", "lama") and not uses_camera("segment", "mask2former")
    both = registry.create_backend("segmenter", "bothways")
    assert both.backtrack and not registry.create_backend("segmenter", "classical").backtrack
