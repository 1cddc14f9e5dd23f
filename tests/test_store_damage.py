"""Damaged files, a second process, a read-only folder, a bad manifest, failed writes (issue #15).

Every damaged file here is made by the test itself: flipped bits and garbage in the middle of the
journal, zeroed HDF5 chunks, 0-byte and deleted layer files, a hand-edited manifest.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from app.cli import main
from app.errors import ProjectDamaged, ProjectError, ProjectLocked, ProjectReadOnly
from app.store import Manifest, MaskEdit, Project, Shot, SourceInfo
from app.store.journal import Journal, JournalEntry
from app.store.journal_format import encode_record_v1

W, H, FRAMES = 40, 30, 12


def make_project(root: Path, frames: int = FRAMES) -> Project:
    return Project.create(root, Manifest("t", SourceInfo("generated", "", "h"), frames, W, H, 24.0))


def labels_for(seq: int) -> np.ndarray:
    labels = np.zeros((H, W), np.uint8)
    labels[seq % 20 : seq % 20 + 6, seq : seq + 6] = seq % 250 + 1
    return labels


def twelve_corrections(root: Path) -> None:
    """A project with 12 confirmed corrections, one per frame (frame f holds seq f + 1)."""
    with make_project(root) as p:
        for f in range(FRAMES):
            p.commit("click", [MaskEdit(f, np.zeros((H, W), np.uint8), labels_for(f + 1), 1)])


def record_offsets(path: Path) -> list[int]:
    raw = path.read_bytes()
    out, pos = [], raw.find(b"\xffCJ\x02")
    while pos >= 0:
        out.append(pos)
        pos = raw.find(b"\xffCJ\x02", pos + 1)
    return out


def folder_bytes(root: Path) -> dict[str, bytes]:
    """Every file's bytes, except SQLite's shared-memory index of the write-ahead log, which a
    read-only SQLite reader of a WAL database must create (it holds no data)."""
    return {p.name: p.read_bytes() for p in sorted(root.iterdir()) if p.is_file() and not p.name.endswith(("-shm", "-wal"))}


# -- 1. the journal ----------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["flipped_bit", "garbage"])
def test_journal_damage_in_the_middle_loses_nothing_after_it_and_reading_never_writes(
    tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "p"
    twelve_corrections(root)
    journal = root / "journal.log"
    raw = bytearray(journal.read_bytes())
    fifth = record_offsets(journal)[5]  # the record of seq 6
    if damage == "flipped_bit":
        raw[fifth + 100] ^= 0x04
    else:
        raw[fifth + 50 : fifth + 50] = os.urandom(300)  # garbage inserted inside the record
    journal.write_bytes(bytes(raw))
    before = folder_bytes(root)

    assert main(["info", str(root)]) == 0
    out = capsys.readouterr().out
    assert "damaged region" in out and "11 readable corrections" in out
    assert folder_bytes(root) == before  # a read-only command wrote nothing at all

    assert main(["recover", str(root)]) == 0
    out = capsys.readouterr().out
    assert "damaged journal was kept as journal.log.damaged-" in out
    copies = list(root.glob("journal.log.damaged-*"))
    assert len(copies) == 1 and copies[0].read_bytes() == bytes(raw)  # copied aside before the repair
    with Project.open(root) as p:
        assert sorted(e.seq for e in p.journal.entries) == [s for s in range(1, 13) if s != 6]
        assert p.journal.damaged == [] and p.notices == []
        for f in range(FRAMES):
            if f != 5:
                assert np.array_equal(p.masks_or_empty(f), labels_for(f + 1)), f
        entry = p.commit("click", [MaskEdit(0, labels_for(1), labels_for(13), 1)])
        assert entry.seq == 13


def test_old_version_1_journals_are_read_and_resync_after_damage(tmp_path: Path) -> None:
    path = tmp_path / "journal.log"
    entries = [JournalEntry(s, "click", [MaskEdit(s, np.zeros((H, W), np.uint8), labels_for(s), 1)]) for s in range(1, 7)]
    records = [encode_record_v1(e) for e in entries]
    raw = bytearray(b"".join(records))
    third = sum(len(r) for r in records[:2])
    raw[third + 40] ^= 0x10  # a flipped bit inside seq 3
    path.write_bytes(bytes(raw))
    journal = Journal(path)
    assert [e.seq for e in journal.entries] == [1, 2, 4, 5, 6]
    assert len(journal.damaged) == 1 and path.read_bytes() == bytes(raw)
    journal.append("click", [MaskEdit(0, labels_for(1), labels_for(7), 1)])  # a v2 record after v1 ones
    again = Journal(path)
    assert [e.seq for e in again.entries] == [1, 2, 4, 5, 6, 7]
    assert np.array_equal(again.entries[-1].edits[0].after, labels_for(7))


def test_damaged_last_record_counts_as_torn_and_undo_of_a_lost_entry_says_so(tmp_path: Path) -> None:
    root = tmp_path / "p"
    twelve_corrections(root)
    journal = root / "journal.log"
    raw = bytearray(journal.read_bytes())
    raw[record_offsets(journal)[11] + 60] ^= 0x01
    journal.write_bytes(bytes(raw))
    with Project.open(root) as p:
        assert p.journal.torn_bytes > 0 and p.journal.last_seq == 11
        p.commit("brush", [MaskEdit(3, labels_for(4), labels_for(20), 1)])
        assert p.journal.copied_to is not None and p.journal.copied_to.read_bytes() == bytes(raw)
    with Project.open(root) as p:
        assert [e.seq for e in p.journal.entries][-2:] == [11, 12]


# -- 4. layers.h5 missing or empty -------------------------------------------------------------------
def _fresh_segment_records(p: Project) -> None:
    from app.pipeline.graph import current_inputs, record_name

    for f in range(p.frame_count):
        p.layers.write("segmentation", f, np.zeros((H, W), np.uint8))
        p.layers.write_record(record_name("segment"), f, {"status": "ok", "inputs": current_inputs(p, "segment", f, "classical")})


@pytest.mark.parametrize("how", ["empty", "deleted"])
def test_missing_or_empty_layer_file_is_damage_and_recover_rebuilds_every_correction(
    tmp_path: Path, how: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.pipeline.graph import stage_summary

    root = tmp_path / "p"
    twelve_corrections(root)
    with Project.open(root) as p:
        _fresh_segment_records(p)
        assert stage_summary(p, "segment") == {"fresh": FRAMES}
    if how == "empty":
        (root / "layers.h5").write_bytes(b"")
    else:
        (root / "layers.h5").unlink()
    assert main(["info", str(root)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "layers.h5 is" in err and "12 confirmed corrections" in err
    assert main(["recover", str(root)]) == 0
    assert "rebuilt 12 corrections on 12 frames" in capsys.readouterr().out
    with Project.open(root) as p:
        for f in range(FRAMES):
            assert np.array_equal(p.masks_or_empty(f), labels_for(f + 1))
        assert "fresh" not in stage_summary(p, "segment")  # every stage runs again


# -- 5. a checksum per chunk -------------------------------------------------------------------------
def _zero_chunk(path: Path, dataset: str, frame: int) -> None:
    with h5py.File(path, "r") as f:
        ds = f[dataset]
        info = ds.id.get_chunk_info_by_coord((frame,) + (0,) * (ds.ndim - 1))
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset)
        fh.write(bytes(info.size))


def test_zeroed_chunks_are_detected_named_and_rebuilt_or_rerun(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "p"
    twelve_corrections(root)
    with Project.open(root) as p:
        p.layers.write("clean", 5, np.full((H, W, 3), 77, np.uint8), {"stage": "inpaint"})
        p.layers.write_record("stage/inpaint", 5, {"status": "ok", "inputs": {}})
    _zero_chunk(root / "layers.h5", "layers/masks", 3)
    _zero_chunk(root / "layers.h5", "layers/clean", 5)
    with Project.open(root) as p, pytest.raises(ProjectDamaged, match=r"Frame 3 of layers/masks .* `celstudio recover`"):
        p.layers.read("masks", 3)
    assert main(["recover", str(root)]) == 0
    out = capsys.readouterr().out
    assert "rebuilt the damaged masks of frames 3 from the journal" in out and "clean 5" in out
    with Project.open(root) as p:
        assert np.array_equal(p.masks_or_empty(3), labels_for(4))
        assert p.layers.read("clean", 5) is None and p.layers.read_record("stage/inpaint", 5) is None
    assert main(["recover", str(root)]) == 0
    assert "nothing to recover" in capsys.readouterr().out


# -- 7 and #13.9. a second process -------------------------------------------------------------------
HOLDER = textwrap.dedent(
    """
    import sys, time
    from app.store import Project
    project = Project.open(sys.argv[1])
    print("open", flush=True)
    time.sleep(120)
    """
)


def test_a_project_open_elsewhere_names_the_process_and_readers_still_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "p"
    twelve_corrections(root)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(root)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "open"
        with pytest.raises(ProjectLocked, match=f"open in another Celstudio window \\(pid {proc.pid}\\)") as info:
            Project.open(root)
        assert info.value.pid == proc.pid
        assert main(["run", str(root), "--stages", "segment"]) == 1
        assert f"pid {proc.pid}" in capsys.readouterr().err
        assert main(["info", str(root)]) == 0  # read-only: works while the other process holds it
        assert "12 frames" in capsys.readouterr().out
        with Project.open(root, read_only=True) as p:
            assert np.array_equal(p.masks_or_empty(7), labels_for(8))
            with pytest.raises(ProjectError, match="read-only"):
                p.commit("click", [MaskEdit(0, labels_for(1), labels_for(2), 1)])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # the holder crashed: its lock is stale, and the next open takes it over and says so
    with Project.open(root) as p:
        assert any(f"pid {proc.pid}" in n for n in p.notices)
    with make_project(tmp_path / "q") as q, pytest.raises(ProjectLocked, match="already open in this Celstudio"):
        Project.open(q.root)


# -- 8. a read-only folder ---------------------------------------------------------------------------
def test_read_only_folder_is_said_and_opened_read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run as root, whom chmod does not stop, so the folder probe is what reports read-only."""
    import app.store.opening as opening_module

    root = tmp_path / "p"
    twelve_corrections(root)
    before = folder_bytes(root)
    monkeypatch.setattr(opening_module, "folder_writable", lambda _root: False)
    with pytest.raises(ProjectReadOnly, match=r"is read-only \(no write permission\)"):
        Project.open(root)
    with Project.open(root, read_only=None) as p:
        assert p.read_only and np.array_equal(p.masks_or_empty(2), labels_for(3))
        with pytest.raises(ProjectReadOnly):
            p.layers.write("alpha", 0, np.zeros((H, W), np.float32))
    assert main(["info", str(root)]) == 0
    assert folder_bytes(root) == before


# -- 10. the manifest --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"frame_count": -5}, "frame_count"),
        ({"shots": [{"start": 0, "end": 5}, {"start": 4, "end": 12}]}, "shots[1]"),
        ({"shots": [{"start": 0, "end": 5}, {"start": 5, "end": 20}]}, "shots"),
        ({"shots": [{"start": 2, "end": 12}]}, "shots[0]"),
        ({"width": 0}, "width"),
        ({"fps": 0}, "fps"),
        ({"width": H, "height": W}, "width'/'height"),
    ],
)
def test_bad_manifest_is_one_line_naming_the_field(
    tmp_path: Path, change: dict[str, object], field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "p"
    twelve_corrections(root)
    data = json.loads((root / "project.json").read_text())
    data.update(change)
    (root / "project.json").write_text(json.dumps(data))
    for command in (["info", str(root)], ["run", str(root)], ["export", str(root), str(tmp_path / "out")]):
        assert main(command) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"'{field}'" in err and "Traceback" not in err, err


# -- 9 and 14. failed writes -------------------------------------------------------------------------
class _Seg:
    def segment_shot(self, frames: list[np.ndarray], **camera: object) -> list[object]:
        from models.base import FrameSegmentation

        return [FrameSegmentation(np.ones(f.shape[:2], np.uint8), {1: "character"}) for f in frames]


def _runnable(root: Path) -> Project:
    project = Project.create(root, Manifest("r", SourceInfo("generated", "", "h"), 8, W, H, 24.0, shots=[Shot(0, 8)]))
    for i in range(8):
        project.media.write_frame(i, np.full((H, W, 3), i, np.uint8))
    return project


def _run_segment(project: Project) -> tuple[str, str]:
    from app.pipeline.runner import PipelineRunner

    runner = PipelineRunner(project, backends={"segmenter": _Seg()}).start()
    finished: list[object] = []
    runner.subscribe(lambda e: finished.append(e) if type(e).__name__ == "JobFinished" else None)
    runner.submit_run(["segment"]).wait(60)
    runner.wait_idle()
    runner.stop()
    event = finished[-1]
    return event.status, event.message  # type: ignore[attr-defined]


def test_a_failed_write_fails_the_run_and_never_marks_fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.pipeline.graph import stage_summary
    from app.store.layers import LayerStore

    real = LayerStore.write

    def failing(self: LayerStore, layer: str, frame: int, *a: object, **k: object) -> int:
        if layer == "segmentation" and frame == 3:
            raise ProjectError("Writing frame 3 of layers/segmentation to layers.h5 failed (injected).")
        return real(self, layer, frame, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(LayerStore, "write", failing)
    with _runnable(tmp_path / "p") as project:
        status, message = _run_segment(project)
        assert status == "failed" and "frame 3 of layers/segmentation" in message
        summary = stage_summary(project, "segment")
        assert summary.get("fresh", 0) == 3 and project.layers.read_record("stage/segment", 3) is None


def test_full_disk_during_a_run_stops_it_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import errno

    from app.pipeline.graph import stage_summary

    root = tmp_path / "p"
    _runnable(root).close()
    real = h5py.Dataset.__setitem__
    writes = {"n": 0}

    def enospc(self: h5py.Dataset, key: object, value: object) -> None:
        if self.name == "/layers/segmentation":
            writes["n"] += 1
            if writes["n"] > 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        real(self, key, value)

    monkeypatch.setattr(h5py.Dataset, "__setitem__", enospc)
    assert main(["run", str(root), "--stages", "segment"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("celstudio: error: The run failed: The disk holding") and str(root) in err and "needs at least" in err
    assert writes["n"] == 3  # stopped at the first failure instead of writing on into a full disk
    monkeypatch.setattr(h5py.Dataset, "__setitem__", real)
    with Project.open(root) as p:
        assert stage_summary(p, "segment").get("fresh", 0) == 2


def test_too_little_free_space_refuses_a_run_before_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import collections

    import app.pipeline.runner as runner_module

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(runner_module.shutil, "disk_usage", lambda _p: usage(1 << 30, 1 << 30, 1 << 20))
    with _runnable(tmp_path / "p") as project:
        status, message = _run_segment(project)
        assert status == "failed" and f"The disk holding {project.root} is full" in message
        assert project.layers.versions("segmentation").sum() == 0


def test_a_correction_on_a_full_disk_is_not_confirmed_nor_applied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins
    import errno

    from app.errors import DiskFull

    root = tmp_path / "p"
    twelve_corrections(root)
    journal = root / "journal.log"
    before = journal.read_bytes()
    real_open = builtins.open

    class FullFile:
        def __init__(self, fh: object) -> None:
            self.fh = fh

        def __getattr__(self, name: str) -> object:
            return getattr(self.fh, name)

        def __enter__(self) -> FullFile:
            return self

        def __exit__(self, *exc: object) -> None:
            self.fh.close()  # type: ignore[attr-defined]

        def write(self, data: bytes) -> int:
            self.fh.write(data[: len(data) // 2])  # type: ignore[attr-defined]
            raise OSError(errno.ENOSPC, "No space left on device")

    def full_open(file: object, mode: str = "r", *a: object, **k: object) -> object:
        fh = real_open(file, mode, *a, **k)  # type: ignore[call-overload]
        return FullFile(fh) if str(file) == str(journal) and "a" in mode else fh

    with Project.open(root) as p:
        monkeypatch.setattr(builtins, "open", full_open)
        with pytest.raises(DiskFull, match=f"The correction was not saved: the disk holding {root} is full"):
            p.commit("click", [MaskEdit(2, labels_for(3), labels_for(30), 1)])
        monkeypatch.setattr(builtins, "open", real_open)
        assert np.array_equal(p.masks_or_empty(2), labels_for(3))  # not shown as applied
        assert p.journal.last_seq == 12
    assert journal.read_bytes() == before  # our own half-written record was taken back


# -- 11. media.h5 ------------------------------------------------------------------------------------
def test_damaged_media_entries_are_named_with_reimport_offered(tmp_path: Path) -> None:
    root = tmp_path / "p"
    with _runnable(root) as p:
        for i in range(8):
            p.media.write_proxy(i, np.full((H, W, 3), 90, np.uint8))
    with h5py.File(root / "media.h5", "r+") as f:
        f["proxies_jpeg"][4] = np.frombuffer(bytes(200), np.uint8)  # zeroed bytes where a JPEG was
    _flip_chunk_byte(root / "media.h5", "proxies_written")
    with Project.open(root) as p:
        with pytest.raises(ProjectDamaged, match=r"proxies_written in media.h5 is damaged.*Re-import the media"):
            p.proxy(4)
        with pytest.raises(ProjectDamaged, match=r"Frame 4 of proxies_jpeg in media.h5 .*Re-import the media"):
            p.media._decode("proxies_jpeg", 4)


def _flip_chunk_byte(path: Path, dataset: str) -> None:
    with h5py.File(path, "r") as f:
        info = f[dataset].id.get_chunk_info(0)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset + 4)
        byte = fh.read(1)[0]
        fh.seek(info.byte_offset + 4)
        fh.write(bytes([byte ^ 0x01]))


def test_damaged_video_index_is_damage_not_zero_division(tmp_path: Path) -> None:
    root = tmp_path / "p"
    video = tmp_path / "v.mp4"
    video.write_bytes(b"not really a video")
    manifest = Manifest("v", SourceInfo("video", str(video), "h"), 4, W, H, 24.0)
    with Project.create(root, manifest) as p:
        p.media.write_array("video_index/info", np.zeros(6, np.int64))  # time base 0/0, as zeroed bytes read
        p.media.write_array("video_index/pts", np.zeros(4, np.int64))
        p.media.write_array("video_index/keyframe", np.zeros(4, np.uint8))
    with Project.open(root) as p, pytest.raises(ProjectDamaged, match=r"frame index .* media.h5 is damaged.*Re-import"):
        p.frame(1)


WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from app.store import MaskEdit, Project
    p = Project.open(sys.argv[1])
    rng = np.random.default_rng(0)
    print("go", flush=True)
    i = 0
    while True:
        f = i % 12
        i += 1
        lab = np.zeros((120, 160), np.uint8)
        lab[rng.integers(0, 100):, rng.integers(0, 140):] = i % 200 + 1
        p.commit("click", [MaskEdit(f, p.masks_or_empty(f), lab, 1)])
        p.layers.write("alpha", f, rng.random((120, 160)).astype(np.float32))
    """
)


def test_readers_beside_a_live_writer_never_report_damage(tmp_path: Path) -> None:
    """HDF5 readers see a writer's chunks move under them; the read-only store rereads instead of
    calling that damage (before the retry, most reads here failed with "damaged")."""
    root = tmp_path / "p"
    Project.create(root, Manifest("w", SourceInfo("generated", "", "h"), 12, 160, 120, 24.0)).close()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "go"
        for _ in range(8):
            with Project.open(root, read_only=True) as p:
                for f in range(12):
                    p.masks_or_empty(f)
                    p.layers.read("alpha", f)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_swapped_width_and_height_are_refused_before_a_run_even_with_no_layers_yet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "p"
    with _runnable(root) as p:
        for i in range(8):
            p.media.write_thumbnail(i, np.full((H, W, 3), i, np.uint8))
    data = json.loads((root / "project.json").read_text())
    data["width"], data["height"] = H, W
    (root / "project.json").write_text(json.dumps(data))
    assert main(["run", str(root), "--stages", "segment"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'width'/'height'" in err and "thumbnails" in err


def test_an_index_made_before_checksums_still_opens_reads_and_gains_them(tmp_path: Path) -> None:
    import sqlite3

    root = tmp_path / "p"
    twelve_corrections(root)
    db = sqlite3.connect(root / "index.db")
    db.executescript(
        "CREATE TABLE old AS SELECT layer, frame, version, meta FROM versions; DROP TABLE versions;"
        "CREATE TABLE versions (layer TEXT, frame INTEGER, version INTEGER, meta TEXT, PRIMARY KEY (layer, frame));"
        "INSERT INTO versions SELECT * FROM old; DROP TABLE old;"
    )
    db.close()
    with Project.open(root, read_only=True) as p:  # the old layout, untouched
        assert not p.layers.index.has_crc and np.array_equal(p.masks_or_empty(4), labels_for(5))
    with Project.open(root) as p:
        assert p.layers.index.has_crc and np.array_equal(p.masks_or_empty(4), labels_for(5))
        p.commit("brush", [MaskEdit(4, labels_for(5), labels_for(40), 1)])
        assert p.layers.index.version_crc("masks", 4)[1] is not None


def test_export_works_read_only_while_another_process_has_the_project_open(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "p"
    with _runnable(root) as p:
        p.add_object("hero")
        mask = np.zeros((H, W), np.uint8)
        mask[5:20, 5:20] = 1
        p.commit("brush", [MaskEdit(2, np.zeros((H, W), np.uint8), mask, 1)])
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(root)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "open"
        before = folder_bytes(root)
        assert main(["export", str(root), str(tmp_path / "out")]) == 0, capsys.readouterr().err
        assert any((tmp_path / "out").rglob("*.png"))
        assert folder_bytes(root) == before
        assert main(["recover", str(root)]) == 1
        assert f"pid {proc.pid}" in capsys.readouterr().err
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_a_read_beside_a_write_in_the_same_process_is_never_damage(tmp_path: Path) -> None:
    """The UI's loader reads a frame while the pipeline's worker rewrites it: the checksum and the
    array must come from the same write (a race here made a frame being written read as damaged)."""
    import threading

    from app.store import Manifest, Project, SourceInfo

    project = Project.create(tmp_path / "race", Manifest("race", SourceInfo("generated", "", "x"), 2, 64, 48, 24.0))
    arrays = [np.full((48, 64), v, np.uint8) for v in (1, 2)]
    project.layers.write("masks", 0, arrays[0])
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            project.layers.raw.write("masks", 0, arrays[i % 2])
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(400):
            data = project.layers.raw.read("masks", 0)
            assert data is not None and int(data[0, 0]) in (1, 2)
    finally:
        stop.set()
        thread.join()
        project.close()
