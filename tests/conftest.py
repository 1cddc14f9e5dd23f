"""Test-wide settings: Qt offscreen, no network for model hubs, the shared data folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# No code path may reach a model hub during tests.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout; tests that need it skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"development data not found at {SHARED}")
    return SHARED


@pytest.fixture(autouse=True)
def _isolated_weights(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test sees an empty weights folder unless it sets one itself."""
    monkeypatch.setenv("CELSTUDIO_WEIGHTS", str(tmp_path_factory.mktemp("weights")))


@pytest.fixture()
def one_torch_thread() -> Iterator[None]:
    """Small networks run faster on one intra-op thread (extra threads only spin on a busy CPU)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# The UI tests' shared fixtures (a project imported from a video file): see tests/ui_fixtures.py.
from ui_fixtures import imported_project, imported_template  # noqa: E402, F401
