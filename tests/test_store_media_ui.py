"""Damaged media, errors off the UI thread, a project open in another window, corrections on a full
disk (issue #15 items 11, 12, 14; issue #13 item 9). Damaged files are made by the tests themselves."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from app.cli import main
from app.errors import CelstudioError, DiskFull, ProjectDamaged
from app.store import Manifest, MaskEdit, Project, Shot, SourceInfo

W, H = 48, 32


def make_video(path: Path, frames: int = 12, w: int = 64, h: int = 48) -> None:
    import av

    rng = np.random.default_rng(3)
    with av.open(str(path), mode="w") as out:
        stream: Any = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt, stream.gop_size = w, h, "yuv420p", 4
        stream.codec_context.time_base = Fraction(1, 24)
        for i in range(frames):
            img = np.full((h, w, 3), rng.integers(20, 200, 3), np.uint8)
            img[10:30, 4 + 2 * i : 14 + 2 * i] = 240
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


# -- 11. media.h5 ------------------------------------------------------------------------------------
def test_damaged_media_is_named_and_reimport_rebuilds_it_keeping_corrections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.ingest.importer import import_source

    video = tmp_path / "clip.mp4"
    make_video(video)
    root = tmp_path / "p"
    with import_source(video, root) as p:
        truth = [p.frame(i).copy() for i in range(p.frame_count)]
        mask = np.zeros((p.height, p.width), np.uint8)
        mask[5:20, 5:20] = 1
        p.commit("brush", [MaskEdit(4, np.zeros_like(mask), mask, 1)])
    with h5py.File(root / "media.h5", "r+") as f:  # the frame index zeroed, as a zeroed region reads back
        for name in ("info", "pts"):
            data = f[f"arrays/video_index/{name}"]
            data[...] = 0
    with Project.open(root) as p, pytest.raises(ProjectDamaged, match=r"frame index .* media.h5 is damaged.*celstudio reimport"):
        p.frame(7)
    assert main(["reimport", str(root)]) == 0
    assert "rebuilt media.h5 from the source; the old file was kept as media.h5.damaged-" in capsys.readouterr().out
    with Project.open(root) as p:
        for i in (0, 7, 11):
            assert np.array_equal(p.frame(i), truth[i])
        assert p.proxy(3).shape[:2] == (48, 64) and np.array_equal(p.masks_or_empty(4), mask)


def test_media_zeroed_in_the_middle_never_gives_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from app.ingest.importer import import_source

    video = tmp_path / "clip.mp4"
    make_video(video)
    root = tmp_path / "p"
    import_source(video, root).close()
    size = (root / "media.h5").stat().st_size
    with open(root / "media.h5", "r+b") as fh:
        fh.seek(size // 3)
        fh.write(bytes(size // 3))
    code = main(["info", str(root)])
    err = capsys.readouterr().err
    assert code == 0 or (len(err.strip().splitlines()) == 1 and "media.h5" in err)
    try:
        project = Project.open(root)
    except CelstudioError as exc:
        assert "media.h5" in str(exc)
        return
    named: list[str] = []
    with project:
        for i in range(project.frame_count):
            # HDF5 itself spins forever on a zeroed heap; every read here must return or raise
            for read in (project.proxy, project.thumbnail, project.frame):
                try:
                    read(i)
                except KeyError:
                    pass  # "no proxy": the viewer falls back to decoding the frame
                except CelstudioError as exc:
                    assert "media.h5" in str(exc), exc
                    named.append(str(exc))
    assert any("of proxies_jpeg in media.h5 is damaged" in n and "Re-import" in n for n in named)


# -- 12. errors raised off the UI thread reach the user ----------------------------------------------
def test_background_errors_reach_the_user_once(qtbot: Any, tmp_path: Path) -> None:
    from app.ui.loader import FrameLoader

    with Project.create(tmp_path / "p", Manifest("t", SourceInfo("generated", "", "h"), 4, W, H, 24.0)) as p:
        loader = FrameLoader(p)
        try:
            seen: list[BaseException] = []
            loader.error.connect(seen.append)

            def broken() -> dict[str, np.ndarray]:
                raise ProjectDamaged("The project index index.db is damaged (database disk image is malformed).")

            loader.request_status(broken)
            loader.request_status(broken)
            qtbot.waitUntil(lambda: len(seen) == 1, timeout=5000)
            qtbot.wait(200)
            assert len(seen) == 1 and "index.db is damaged" in str(seen[0])
        finally:
            loader.close()


def test_index_db_zeroed_in_the_middle_is_told_to_the_user(qtbot: Any, tmp_path: Path) -> None:
    from app.ui.controller import MainController

    root = tmp_path / "p"
    with Project.create(root, Manifest("t", SourceInfo("generated", "", "h"), 64, W, H, 24.0, shots=[Shot(0, 64)])) as p:
        for f in range(64):
            p.layers.write_record("stage/segment", f, {"status": "ok", "inputs": {"pad": "x" * 2000}})
    db = root / "index.db"
    size = db.stat().st_size
    with open(db, "r+b") as fh:
        fh.seek(size // 2 // 4096 * 4096)
        fh.write(bytes(8192))
    c = MainController()  # the real runner: its status strips read every record
    told: list[str] = []
    c.error.connect(lambda exc: told.append(str(exc)))
    c.damaged.connect(lambda _path, exc: told.append(str(exc)))
    try:
        c.open_project(root)
        qtbot.waitUntil(lambda: any("index.db" in t for t in told), timeout=10000)
    finally:
        c.close_project()


# -- #13.9 and 7: a project open in another window ---------------------------------------------------
HOLDER = textwrap.dedent(
    """
    import sys, time
    from app.store import Project
    project = Project.open(sys.argv[1])
    print("open", flush=True)
    time.sleep(120)
    """
)


def test_open_in_another_window_names_the_pid_and_opens_read_only(qtbot: Any, tmp_path: Path) -> None:
    from app.ui.controller import MainController

    root = tmp_path / "p"
    with Project.create(root, Manifest("t", SourceInfo("generated", "", "h"), 4, W, H, 24.0)) as p:
        p.commit("brush", [MaskEdit(1, np.zeros((H, W), np.uint8), np.ones((H, W), np.uint8), 1)])
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(root)], stdout=subprocess.PIPE, text=True, env=env)
    c = MainController(runner_factory=lambda _p: pytest.fail("a read-only project gets no runner"))
    offers: list[str] = []
    c.read_only_offer.connect(lambda _path, exc: offers.append(str(exc)))
    damaged: list[str] = []
    c.damaged.connect(lambda _path, exc: damaged.append(str(exc)))
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "open"
        assert not c.open_project(root)
        assert offers and f"open in another Celstudio window (pid {proc.pid})" in offers[0] and not damaged
        assert "damaged" not in offers[0] and "Re-import" not in offers[0]
        assert c.open_project(root, read_only=True)
        assert c.project is not None and c.project.read_only and c.runner is None
        assert int(c.project.masks_or_empty(1).sum()) == W * H
        messages: list[str] = []
        c.status.connect(messages.append)
        assert c.click(3, 3) is None and "read-only" in messages[-1]
    finally:
        c.close_project()
        proc.send_signal(signal.SIGKILL)
        proc.wait()


# -- 14. corrections on a full disk ------------------------------------------------------------------
class _Propagator:
    def release(self) -> None:
        pass

    def propagate(self, frames: list[np.ndarray], seeds: dict[int, np.ndarray], direction: str = "both") -> list[Any]:
        from models.base import Propagation

        first = seeds[min(seeds)]
        return [Propagation(first.copy(), np.ones(first.shape, np.float32)) for _ in frames]


def _full_journal(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.store.journal import Journal

    def append(self: Journal, *a: object, **k: object) -> object:
        raise DiskFull(f"The correction was not saved: the disk holding {self.path.parent} is full (it needs 4 KiB more).")

    monkeypatch.setattr(Journal, "append", append)


def test_corrections_that_fail_on_a_full_disk_say_so_and_are_not_shown_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.pipeline.events import JobFinished
    from app.pipeline.runner import PipelineRunner

    root = tmp_path / "p"
    project = Project.create(root, Manifest("t", SourceInfo("generated", "", "h"), 6, W, H, 24.0, shots=[Shot(0, 6)]))
    for i in range(6):
        project.media.write_frame(i, np.full((H, W, 3), 40 * i, np.uint8))
    seed = np.zeros((H, W), np.uint8)
    seed[4:12, 4:12] = 1
    project.commit("brush", [MaskEdit(0, np.zeros_like(seed), seed, 1)])
    previous = {f: project.layers.read("masks", f) for f in range(6)}
    runner = PipelineRunner(project, backends={"propagator": _Propagator()}).start()
    finished: list[JobFinished] = []
    runner.subscribe(lambda e: finished.append(e) if isinstance(e, JobFinished) else None)
    try:
        _full_journal(monkeypatch)
        runner.submit_brush(2, 1, np.ones((H, W), bool)).wait(30)
        runner.submit_propagate(0, "forward").wait(30)
        runner.wait_idle()
        brush, propagate = finished[0], finished[1]
        assert brush.status == "failed" and "The correction was not saved: the disk holding" in brush.message
        assert propagate.status == "failed" and "not saved" in propagate.message
        for f in range(6):  # neither the brush nor the streamed propagation stays on screen as applied
            now = project.layers.read("masks", f)
            assert (now is None and previous[f] is None) or np.array_equal(now, previous[f]), f  # type: ignore[arg-type]
        assert project.journal.last_seq == 1
    finally:
        runner.stop()
        project.close()


def test_enospc_while_appending_is_a_one_line_error_in_the_cli_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.store.journal import Journal

    path = tmp_path / "journal.log"
    journal = Journal(path)

    real_fsync = os.fsync

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DiskFull, match=f"disk holding {tmp_path} is full"):
        journal.append("click", [MaskEdit(0, np.zeros((4, 4), np.uint8), np.ones((4, 4), np.uint8), 1)])
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert path.read_bytes() == b"" and journal.entries == []
    journal.append("click", [MaskEdit(0, np.zeros((4, 4), np.uint8), np.ones((4, 4), np.uint8), 1)])
    assert [e.seq for e in Journal(path).entries] == [1]


def test_the_app_says_when_journal_records_were_skipped(qtbot: Any, tmp_path: Path) -> None:
    from app.ui.controller import MainController

    root = tmp_path / "p"
    with Project.create(root, Manifest("t", SourceInfo("generated", "", "h"), 4, W, H, 24.0)) as p:
        for f in range(4):
            p.commit("brush", [MaskEdit(f, np.zeros((H, W), np.uint8), np.full((H, W), f + 1, np.uint8), 1)])
    raw = bytearray((root / "journal.log").read_bytes())
    second = raw.find(b"\xffCJ\x02", 1)
    raw[second + 40] ^= 0x08
    (root / "journal.log").write_bytes(bytes(raw))
    c = MainController(runner_factory=lambda _p: None)
    told: list[str] = []
    c.error.connect(lambda exc: told.append(str(exc)))
    try:
        assert c.open_project(root)
        assert told and "damaged region" in told[0] and "3 readable corrections" in told[0]
        assert c.project is not None and int(c.project.masks_or_empty(3)[0, 0]) == 4
    finally:
        c.close_project()


def test_an_image_folder_project_gets_its_lost_frames_back_by_reimport(tmp_path: Path) -> None:
    from PIL import Image

    from app.ingest.importer import import_source
    from app.ingest.reimport import reimport_media

    folder = tmp_path / "frames"
    folder.mkdir()
    truth = []
    for i in range(6):
        img = np.full((H, W, 3), 30 * i, np.uint8)
        img[5:15, i : i + 10] = 250
        Image.fromarray(img).save(folder / f"{i:03d}.png")
        truth.append(img)
    root = tmp_path / "p"
    import_source(folder, root).close()
    with h5py.File(root / "media.h5", "r+") as f:
        f["frames_written"][2] = 0  # the entry lost, as a damaged flag reads back
    with Project.open(root) as p, pytest.raises(ProjectDamaged, match=r"Frame 2 is missing from media.h5.*Re-import"):
        p.frame(2)
    kept = reimport_media(root)
    assert kept is not None and kept.exists()
    with Project.open(root) as p:
        assert all(np.array_equal(p.frame(i), truth[i]) for i in range(6))
