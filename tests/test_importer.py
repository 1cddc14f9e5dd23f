"""Importing videos and image folders into projects: exact frames, proxies, shots, clean failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from clips import write_mp4
from PIL import Image

from app.errors import InputError, ProjectError
from app.ingest.importer import ImportCancelled, import_source
from app.sources.source import open_source
from app.store import Project, Shot


def _scene(seed: int, i: int, w: int, h: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = rng.integers(30, 220, 3)
    for _ in range(6):
        y, x = int(rng.integers(0, h - 12)), int(rng.integers(0, w - 12))
        img[y : y + rng.integers(8, h // 2), x : x + rng.integers(8, w // 2)] = rng.integers(0, 256, 3)
    x = 4 + 2 * i
    img[h // 3 : h // 3 + 14, x : x + 10] = (250, 230, 210)  # a moving "character"
    return img


def make_video(path: Path, shots: list[tuple[int, int]], w: int = 128, h: int = 72) -> list[np.ndarray]:
    """Encode shots given as (seed, length); returns the RGB frames that went in."""
    frames = [_scene(seed, i, w, h) for seed, n in shots for i in range(n)]
    write_mp4(path, frames, crf=23, preset="medium", gop=8)
    return frames


def test_import_video(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    make_video(video, [(1, 20), (2, 16)])
    calls: list[tuple[int, int]] = []
    project = import_source(video, tmp_path / "proj", progress=lambda d, t: calls.append((d, t)))
    decoded = list(open_source(video))
    with project:
        m = project.manifest
        assert (m.frame_count, m.width, m.height, m.name) == (36, 128, 72, "clip")
        assert m.source.kind == "video" and m.source.path == str(video.resolve())
        assert m.source.codec == "h264" and m.source.gop == 8 and len(m.source.content_hash) == 64
        assert m.fps == pytest.approx(24.0)
        assert project.shots == [Shot(0, 20), Shot(20, 36)]
        assert calls[-1] == (36, 36) and len(calls) == 36
        assert project.proxy(5).shape == (72, 128, 3)  # small sources are not upscaled
        assert project.thumbnail(5).shape == (54, 96, 3)
        for i in (35, 3, 20, 19, 0, 27):
            assert np.array_equal(project.frame(i), decoded[i])
    with Project.open(tmp_path / "proj") as reopened:
        assert reopened.shots == [Shot(0, 20), Shot(20, 36)]
        assert np.array_equal(reopened.frame(30), decoded[30])
        # The index came from media.h5 (decoded and verified at import), not from a new scan.
        assert reopened.frames._source.index.verified  # type: ignore[union-attr, attr-defined]


def test_import_large_video_makes_640_proxies(tmp_path: Path) -> None:
    video = tmp_path / "wide.mp4"
    make_video(video, [(3, 4)], w=800, h=450)
    with import_source(video, tmp_path / "p", name="Wide") as project:
        assert project.manifest.name == "Wide"
        assert project.proxy(0).shape == (360, 640, 3)
        assert project.thumbnail(3).shape == (54, 96, 3)


def test_import_image_folder_is_lossless(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    frames = [_scene(4, i, 64, 48) for i in range(6)]
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"img{i + 1}.png")
    Image.fromarray(frames[0][..., 0]).save(folder / "img10.png")  # grayscale, sorts last
    with import_source(folder, tmp_path / "p") as project:
        assert project.manifest.source.kind == "images"
        assert project.frame_count == 7
        for i, f in enumerate(frames):
            assert np.array_equal(project.frame(i), f)
        assert np.array_equal(project.frame(6), np.repeat(frames[0][..., :1], 3, axis=2))


def test_cancel_removes_the_project_folder(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    make_video(video, [(1, 30)])
    seen: list[int] = []
    with pytest.raises(ImportCancelled):
        import_source(video, tmp_path / "proj", progress=lambda d, t: seen.append(d), cancel=lambda: len(seen) >= 5)
    assert seen == [1, 2, 3, 4, 5]
    assert not (tmp_path / "proj").exists()


def test_failures_leave_nothing_behind(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 50000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError):
        import_source(junk, tmp_path / "proj")
    assert not (tmp_path / "proj").exists()
    # An existing folder is kept (only the files the import wrote are removed).
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    video = tmp_path / "clip.mp4"
    make_video(video, [(1, 12)])
    with pytest.raises(ImportCancelled):
        import_source(video, keep, cancel=lambda: True)
    assert sorted(p.name for p in keep.iterdir()) == ["notes.txt"]


def test_existing_project_is_not_overwritten(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    make_video(video, [(1, 6)])
    import_source(video, tmp_path / "proj").close()
    before = sorted(p.name for p in (tmp_path / "proj").iterdir())
    with pytest.raises(ProjectError):
        import_source(video, tmp_path / "proj")
    assert sorted(p.name for p in (tmp_path / "proj").iterdir()) == before
    with Project.open(tmp_path / "proj") as p:
        assert p.frame_count == 6


def test_jpeg_folder_keeps_the_source_bytes(tmp_path: Path) -> None:
    folder = tmp_path / "jpgs"
    folder.mkdir()
    rng = np.random.default_rng(5)
    for i in range(3):
        noisy = (_scene(6, i, 320, 240).astype(int) + rng.integers(-20, 20, (240, 320, 3))).clip(0, 255)
        Image.fromarray(noisy.astype(np.uint8)).save(folder / f"f{i}.jpg", quality=85)
    with import_source(folder, tmp_path / "p") as project:
        for i in range(3):
            with Image.open(folder / f"f{i}.jpg") as im:
                assert np.array_equal(project.frame(i), np.asarray(im.convert("RGB")))
            stored = project.media.h5.read_row("frames_encoded", i)
            assert stored is not None
            assert np.asarray(stored, np.uint8).tobytes() == (folder / f"f{i}.jpg").read_bytes()


# -- reliability: never replace what the import did not write, unfinished imports, full disks -----------

def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.parametrize("keep_bak", [True, False])
def test_import_never_replaces_a_damaged_project(tmp_path: Path, keep_bak: bool) -> None:
    video = tmp_path / "clip.mp4"
    make_video(video, [(1, 6)])
    root = tmp_path / "proj"
    with import_source(video, root) as project:
        project.add_object("hero")  # leaves project.json.bak
    (root / "project.json").unlink()
    if not keep_bak:
        (root / "project.json.bak").unlink()
    before = _snapshot(root)
    assert {"layers.h5", "media.h5", "journal.log"} <= set(before)
    with pytest.raises(ProjectError, match=r"no project\.json: if it is a damaged Celstudio project, run `celstudio recover"):
        import_source(video, root)
    assert _snapshot(root) == before  # every byte of the damaged project is still there


def test_import_never_overwrites_a_users_own_files(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    make_video(video, [(1, 6)])
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "journal.log").write_text("my own diary\n")
    (mine / "notes.txt").write_text("notes")
    with pytest.raises(ProjectError, match=r"already holds journal\.log"):
        import_source(video, mine)
    assert _snapshot(mine) == {"journal.log": b"my own diary\n", "notes.txt": b"notes"}
    # A folder with only unrelated files is fine, and they survive.
    (mine / "journal.log").unlink()
    with import_source(video, mine) as project:
        assert project.frame_count == 6
    assert (mine / "notes.txt").read_text() == "notes"


def _kill_import_at(video: Path, root: Path, frame: int) -> None:
    """Run an import in a child process and SIGKILL it (no cleanup runs) after ``frame`` frames."""
    import os
    import subprocess
    import sys

    code = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from app.ingest.importer import import_source\n"
        "def progress(done, total):\n"
        f"    if done == {frame}:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "import_source(Path(sys.argv[1]), Path(sys.argv[2]), progress=progress)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-c", code, str(video), str(root)], env=env, capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()


def test_killed_import_is_reported_as_unfinished_and_reimport_replaces_it(tmp_path: Path) -> None:
    from app.cli import main
    from app.errors import ImportUnfinished

    video = tmp_path / "clip.mp4"
    frames = make_video(video, [(1, 12), (2, 12)])
    root = tmp_path / "proj"
    root.mkdir()
    (root / "notes.txt").write_text("mine")
    _kill_import_at(video, root, 10)
    assert (root / "project.json").exists() and (root / "media.h5").exists()
    with pytest.raises(ImportUnfinished, match="did not finish") as info:
        Project.open(root)
    assert info.value.source == str(video.resolve())
    with pytest.raises(ImportUnfinished):
        Project.open(root, recover=True)
    assert main(["recover", str(root)]) == 1
    assert main(["info", str(root)]) == 1
    # Re-import replaces the unfinished project (the marker proves Celstudio wrote it) and keeps the user's file.
    with import_source(video, root) as project:
        assert project.frame_count == 24 and project.shots == [Shot(0, 12), Shot(12, 24)]
    with Project.open(root) as project:
        assert all(project.proxy(i).shape == (72, 128, 3) for i in range(24))
        assert np.abs(project.frame(23).astype(int) - frames[23]).mean() < 8
    assert (root / "notes.txt").read_text() == "mine"
    assert not (root / "import.unfinished").exists()


def _disk(free: int) -> Any:
    import shutil

    return shutil._ntuple_diskusage(1 << 40, (1 << 40) - free, free)  # type: ignore[attr-defined]


def test_import_checks_free_space_before_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    video = tmp_path / "clip.mp4"
    make_video(video, [(1, 12)])
    monkeypatch.setattr(shutil, "disk_usage", lambda path: _disk(20 << 20))
    root = tmp_path / "new" / "proj"
    with pytest.raises(ProjectError, match=rf"Not enough free space for the import into {root}: it needs about \d+ MB"):
        import_source(video, root)
    assert not (tmp_path / "new").exists()  # nothing was made


def test_disk_filling_during_import_stops_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    video = tmp_path / "clip.mp4"
    make_video(video, [(1, 12)])
    calls: list[int] = []

    def usage(path: Any) -> Any:
        calls.append(1)
        return _disk((1 << 40) if len(calls) < 3 else (1 << 20))  # fills up after two checks

    monkeypatch.setattr(shutil, "disk_usage", usage)
    with pytest.raises(ProjectError, match="Not enough free space for the rest of the import"):
        import_source(video, tmp_path / "proj")
    assert not (tmp_path / "proj").exists()


def test_enospc_during_import_is_one_clean_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from app.store.media import MediaStore

    video = tmp_path / "clip.mp4"
    make_video(video, [(1, 12)])
    real = MediaStore.write_proxy

    def full(self: MediaStore, index: int, image: np.ndarray) -> None:
        if index == 7:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, index, image)

    monkeypatch.setattr(MediaStore, "write_proxy", full)
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    for root in (tmp_path / "proj", keep):
        with pytest.raises(ProjectError, match=rf"The disk holding {root} is full; the import needs about \d+ MB"):
            import_source(video, root)
    assert not (tmp_path / "proj").exists()
    assert _snapshot(keep) == {"notes.txt": b"mine"}


def test_destination_name_longer_than_the_file_system_allows(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    make_video(video, [(1, 4)])
    with pytest.raises(ProjectError, match="allows at most"):
        import_source(video, tmp_path / ("p" * 300))
    with pytest.raises(ProjectError, match="allows at most"):
        import_source(video, tmp_path / ("p" * 300) / "inner")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


ENOSPC_INSIDE_HDF5 = """
import errno, sys
from pathlib import Path
from app.store.h5 import H5Frames
from app.store.media import MediaStore
def full(self, index, image):
    raise OSError(errno.ENOSPC, "No space left on device")
def broken(self):
    raise RuntimeError("Can't synchronously write data (duplicate entry in cache)")
MediaStore.write_proxy = full
H5Frames.flush = broken  # what HDF5 does after a real ENOSPC: every flush fails, a close would crash
from app.cli import main
sys.exit(main(["import", sys.argv[1], sys.argv[2]]))
"""


def test_enospc_inside_hdf5_exits_with_one_line_and_no_crash(tmp_path: Path) -> None:
    """Closing an HDF5 file after ENOSPC segfaults, so the CLI abandons it and exits before HDF5's exit handler."""
    import os
    import subprocess
    import sys

    video = tmp_path / "clip.mp4"
    make_video(video, [(1, 6)])
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-c", ENOSPC_INSIDE_HDF5, str(video), str(tmp_path / "proj")],
                          env=env, capture_output=True, timeout=120, text=True)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("celstudio:")]
    assert proc.returncode == 1, proc.stderr
    assert lines == [f"celstudio: error: The disk holding {tmp_path / 'proj'} is full; the import needs about "
                     f"{lines[0].split('about ')[1].split(' MB')[0]} MB free there, and nothing of it was kept."]
    assert not (tmp_path / "proj").exists()
