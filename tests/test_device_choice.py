"""The device is chosen in one place (`models.device.choose_device`); the runner and the batch workers
only ask it, and nobody imports torch to learn that a weight-free run uses the CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.demo.project import create_demo_project
from app.pipeline.runner import PipelineRunner, PipelineSettings
from app.store import Project


@pytest.fixture()
def asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    import models.device

    calls: list[str] = []

    def pick(preferred: str = "auto") -> str:
        calls.append(preferred)
        return "picked"

    monkeypatch.setattr(models.device, "pick_device", pick)
    return calls


def test_runner_asks_pick_device_except_for_a_weight_free_run(tmp_path: Path, asked: list[str]) -> None:
    create_demo_project(tmp_path / "d", width=64, height=36, shots=1, frames_per_shot=2).close()
    project = Project.open(tmp_path / "d")
    try:
        def runner(**settings: Any) -> PipelineRunner:
            return PipelineRunner(project, PipelineSettings(**settings))

        assert runner().device() == "cpu" and runner(device="cpu", backends={"matter": "u2net"}).device() == "cpu"
        assert runner().device_in_use == "cpu"  # known without asking torch
        assert asked == []  # a weight-free run, or an explicit CPU, never imports torch to decide
        deep = runner(backends={"matter": "u2net"})
        assert deep.device_in_use is None and asked == []  # a label asking before a model loaded
        assert deep.device() == "picked" and runner(device="cuda").device() == "picked"
        assert asked == ["auto", "cuda"]
        assert deep.device_in_use == "picked"
        deep.device()
        assert asked == ["auto", "cuda"]  # chosen once per runner
    finally:
        project.close()


def test_batch_workers_choose_through_the_same_function(asked: list[str]) -> None:
    from app.batch.worker import BackendCache

    assert BackendCache("auto")._device("segmenter", "classical") == "cpu" and asked == []
    assert BackendCache("cuda")._device("segmenter", "classical") == "picked" and asked == ["cuda"]


def test_torch_utils_pick_device_is_the_same_function() -> None:
    import models.device
    import models.torch_utils

    assert models.torch_utils.pick_device is models.device.pick_device


def test_the_jobs_panel_shows_the_runners_choice_without_importing_torch(
    qtbot: Any, tmp_path: Path, asked: list[str]
) -> None:
    from app.ui.controller import MainController
    from app.ui.jobs_panel import JobsPanel

    create_demo_project(tmp_path / "d", width=64, height=36, shots=1, frames_per_shot=2).close()
    runners: list[PipelineRunner] = []

    def factory(project: Project) -> PipelineRunner:
        runners.append(PipelineRunner(project, PipelineSettings(backends={"matter": "u2net"} if runners else {})))
        return runners[-1].start()

    controller = MainController(runner_factory=factory)
    assert controller.open_project(tmp_path / "d")
    try:
        panel = JobsPanel(controller)
        qtbot.addWidget(panel)
        panel._device()
        assert panel.device.text() == "device: cpu"  # weight-free: known without torch
        controller.apply_settings({})  # a new runner: the factory now asks for a deep matter
        panel._device()
        assert panel.device.text() == "device: not chosen yet" and asked == []
        runners[-1].device()
        panel._device()
        assert panel.device.text() == "device: picked"
    finally:
        controller.close_project()
