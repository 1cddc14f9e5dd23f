"""The device is chosen in one place (`models.torch_utils.pick_device`); the runner only asks it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.demo.project import create_demo_project
from app.pipeline.runner import PipelineRunner, PipelineSettings
from app.store import Project


def test_runner_asks_pick_device_except_for_a_weight_free_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import models.torch_utils as tu

    asked: list[str] = []

    def pick(preferred: str = "auto") -> str:
        asked.append(preferred)
        return "picked"

    monkeypatch.setattr(tu, "pick_device", pick)
    create_demo_project(tmp_path / "d", width=64, height=36, shots=1, frames_per_shot=2).close()
    project = Project.open(tmp_path / "d")
    try:
        def device(**settings: Any) -> str:
            return PipelineRunner(project, PipelineSettings(**settings)).device()

        assert device() == "cpu" and device(device="cpu", backends={"matter": "u2net"}) == "cpu"
        assert asked == []  # a weight-free run, or an explicit CPU, never imports torch to decide
        assert device(backends={"matter": "u2net"}) == "picked" and device(device="cuda") == "picked"
        assert asked == ["auto", "cuda"]
    finally:
        project.close()
