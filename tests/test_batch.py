"""The batch's building blocks without a cluster: a shot computed on a worker and replayed by the
project's writer equals `celstudio run`; a project that changed meanwhile is detected; resources."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from app.batch.clips import write_generated_clip
from app.batch.driver import BatchError, BatchOptions, BatchRun, discover_sources, project_folders
from app.batch.resources import stage_groups
from app.batch.verify import digest_differences, project_digest
from app.batch.worker import BackendCache, ShotWorker, compute_shot
from app.batch.workspace import ShotPackage, StaleShot, apply_ops
from app.batch.writer import ProjectWriter
from app.cli import main
from app.errors import InputError
from app.ingest.importer import import_source
from app.pipeline.graph import STAGES
from app.pipeline.interactive import brush_correction
from app.pipeline.runner import PipelineRunner, PipelineSettings
from app.store import Project

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_generated_clip(tmp_path_factory.mktemp("clip") / "ep.mp4", 21, shots=2, frames_per_shot=6)


def _corrected(project: Project) -> None:
    """A user correction before the run: propagate must leave that frame's masks alone, like the runner."""
    stroke = np.zeros((project.height, project.width), bool)
    stroke[10:30, 20:50] = True
    brush_correction(project, 3, 1, stroke, erase=False)


def test_worker_shots_replayed_by_the_writer_equal_a_local_run(clip: Path, tmp_path: Path) -> None:
    local = import_source(clip, tmp_path / "local")
    _corrected(local)
    runner = PipelineRunner(local, PipelineSettings()).start()
    runner.submit_run().wait(120)
    assert runner.wait_idle(120)
    runner.stop()
    local.close()

    with import_source(clip, tmp_path / "batch") as batch:
        assert len(batch.shots) == 2
        _corrected(batch)
    # The worker and writer actors' own code, called without Ray.
    writer = ProjectWriter(str(tmp_path / "batch"), {})
    worker = ShotWorker(cpus=2)
    try:
        with pytest.raises(ValueError):
            compute_shot(writer.read(0), ["segment"], worker.cache)
        # Segment on workers in any order (the last shot first); registration in the writer, in shot order.
        packages = {i: writer.read(i) for i in (1, 0)}
        captures = {i: worker.segment(packages[i])[1] for i in (1, 0)}
        assert all(c.needed and c.results is not None for c in captures.values())
        for index in (0, 1):
            report = writer.register(index, captures[index])
            assert report["failures"] == []
        for index in (0, 1):
            # Two stage groups in a row, as a batch with a deep stage does: the writer applies each;
            # the shot's frames were decoded once, for its segment step.
            for stages in (["propagate"], ["matte", "effects", "inpaint", "annotate"]):
                package = writer.read(index, frames=False)
                assert package.frames == {}
                result, ops = worker.run(package, stages, packages[index])
                assert result.failures == []
                writer.apply(ops)
        # Nothing is left to do: a second pass computes nothing and writes nothing.
        assert not worker.segment(writer.read(0))[1].needed
        again = compute_shot(writer.read(0), list(STAGES[1:]), worker.cache)
        assert again.ops == [] and again.computed == {}
    finally:
        writer.close()
    a, b = project_digest(tmp_path / "local"), project_digest(tmp_path / "batch")
    assert len(a) > 100
    assert digest_differences(a, b) == []
    with Project.open(tmp_path / "batch") as project:
        assert project.layers.meta("masks", 3)["source"] == "user"


def test_a_shot_whose_project_changed_is_not_applied(clip: Path, tmp_path: Path) -> None:
    with import_source(clip, tmp_path / "p") as project:
        runner = PipelineRunner(project, PipelineSettings()).start()
        runner.submit_run(["segment"], [0]).wait(120)
        assert runner.wait_idle(120)
        runner.stop()
        result = compute_shot(ShotPackage.read(project, 0, {}), ["propagate"], BackendCache())
        frame = project.shots[0].start
        project.layers.write("masks", frame, np.zeros((project.height, project.width), np.uint8))
        with pytest.raises(StaleShot):
            apply_ops(project, result.ops)
        # Checked before anything is written: the other frames are untouched.
        assert project.layers.version("masks", frame + 1) == 0


def test_stage_groups_declare_resources() -> None:
    groups = stage_groups(list(STAGES), {"matter": "u2net", "propagator": "xmem"}, cluster_gpus=2)
    assert [(p.name, s) for p, s in groups] == [
        ("cpu", ["segment"]), ("gpu", ["propagate", "matte"]), ("cpu", ["effects", "inpaint", "annotate"]),
    ]
    gpu = groups[1][0].options()
    assert gpu["num_gpus"] == 1 and gpu["num_cpus"] == 1 and gpu["memory"] >= 2**30
    assert groups[0][0].options()["num_gpus"] == 0
    # Without GPUs in the cluster, deep stages still get their own (CPU) workers.
    assert stage_groups(["matte"], {"matter": "u2net"}, cluster_gpus=0)[0][0].num_gpus == 0


def test_sources_and_project_folders(tmp_path: Path) -> None:
    season = tmp_path / "season"
    season.mkdir()
    for name in ("b.mkv", "a.mp4", "notes.txt"):
        (season / name).write_bytes(b"")
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.mp4").write_bytes(b"")
    found = discover_sources([season, other / "a.mp4"])
    assert [p.name for p in found] == ["a.mp4", "b.mkv", "a.mp4"]
    assert [p.name for p in project_folders(found, tmp_path / "projects")] == ["a", "b", "a-2"]
    with pytest.raises(InputError):
        discover_sources([tmp_path / "missing.mp4"])
    with pytest.raises(InputError):
        discover_sources([season / "notes.txt"])
    with pytest.raises(BatchError):
        BatchRun([season], tmp_path / "projects", BatchOptions(stages=["segment", "bogus"]))


def test_batch_without_ray_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert main(["batch", str(tmp_path), "--projects", str(tmp_path / "p")]) == 1
    err = capsys.readouterr().err
    assert "pip install 'celstudio[cluster]'" in err and err.count("\n") == 1


class _BrokenSegmenter:
    """A segmenter that fails on every shot, as a real one can (out of memory, a bad frame)."""

    def segment_shot(self, frames: object, **camera: object) -> list[object]:
        raise MemoryError("segmenter ran out of memory")

    def release(self) -> None:
        pass


def test_a_segmenter_failure_on_a_worker_is_recorded_by_the_writer_as_locally(clip: Path, tmp_path: Path) -> None:
    """The worker's exception travels to the writer, where the segment stage records the failed frames
    with the same reason and inputs as a local run; the shot's later stages then report them too."""
    with import_source(clip, tmp_path / "local") as local:
        runner = PipelineRunner(local, PipelineSettings(), backends={"segmenter": _BrokenSegmenter()}).start()
        runner.submit_run(["segment"]).wait(120)
        assert runner.wait_idle(120)
        runner.stop()
    import_source(clip, tmp_path / "batch").close()
    writer, worker = ProjectWriter(str(tmp_path / "batch"), {}), ShotWorker()
    worker.cache._loaded[("segmenter", "classical")] = _BrokenSegmenter()
    try:
        for index in (0, 1):
            capture = worker.segment(writer.read(index))[1]
            assert isinstance(capture.error, MemoryError) and capture.results is None
            report = writer.register(index, capture)
            assert report["failures"] and all("MemoryError: segmenter ran out of memory" in r for _, _, r in report["failures"])
    finally:
        writer.close()
    a, b = project_digest(tmp_path / "local"), project_digest(tmp_path / "batch")
    assert any(k.startswith("record/") for k in a)
    assert digest_differences(a, b) == []
