"""Every bad input the reliability attack tried, through the real CLI: one line, exit 1, nothing lost.

Each case builds its own bad input (truncated containers, odd files, damaged or foreign destination
folders, a full disk by injection), runs ``celstudio import`` / ``export`` / ``info`` / ``recover`` in
process, and checks the answer is a single ``celstudio: error: ...`` line - no traceback, no warning
lines, no hang - and that the files already at the destination are byte-for-byte unchanged.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from test_export import _ground_truth_demo
from test_importer import make_video as make_shots_video
from test_ingest_source import _frame_image, make_resizing_video, make_video, png_header

from app.cli import main


def _folder_with(tmp: Path, name: str, data: bytes) -> Path:
    folder = tmp / "frames"
    folder.mkdir()
    Image.fromarray(_frame_image(0)).save(folder / "a.png")
    (folder / name).write_bytes(data)
    return folder


def _cut(tmp: Path, ext: str, codec: str) -> Path:
    good = make_video(tmp / f"good.{ext}", 30, codec)
    bad = tmp / f"cut.{ext}"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    return bad


def _video(tmp: Path) -> Path:
    return make_video(tmp / "ok.mp4", 8)


def _loop(tmp: Path) -> Path:
    (tmp / "a.mp4").symlink_to(tmp / "b.mp4")
    (tmp / "b.mp4").symlink_to(tmp / "a.mp4")
    return tmp / "a.mp4"


def _fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "pipe.mkv")
    return tmp / "pipe.mkv"


def _damaged_project(tmp: Path, keep_bak: bool) -> Path:
    root = tmp / "proj"
    assert main(["import", str(_video(tmp)), str(root)]) == 0
    with (root / "project.json").open() as fh:
        (root / "project.json.bak").write_text(fh.read())
    (root / "project.json").unlink()
    if not keep_bak:
        (root / "project.json.bak").unlink()
    return root


def _users_folder(tmp: Path, name: str) -> Path:
    root = tmp / "mine"
    root.mkdir()
    (root / name).write_text("the user's own file\n")
    return root


def _killed_import(tmp: Path) -> Path:
    from test_importer import _kill_import_at

    video = tmp / "clip.mp4"
    make_shots_video(video, [(1, 12)])
    _kill_import_at(video, tmp / "proj", 6)
    return tmp / "proj"


def _file(path: Path, data: bytes) -> Path:
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path


def _project(tmp: Path) -> Path:
    assert main(["import", str(_video(tmp)), str(tmp / "again")]) == 0
    return tmp / "again"


def _low_disk(mp: pytest.MonkeyPatch, dest: Path) -> Path:
    real = shutil.disk_usage
    mp.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=4 << 20))
    return dest


def _enospc_on_proxy(mp: pytest.MonkeyPatch, dest: Path) -> Path:
    from app.store.media import MediaStore

    def full(self: Any, index: int, image: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    mp.setattr(MediaStore, "write_proxy", full)
    return dest


def _enospc_on_export(mp: pytest.MonkeyPatch, out: Path) -> Path:
    from app.export import manifest

    real = manifest.atomic_write

    def write(path: Path, data: bytes) -> None:
        if path.name != "manifest.json":
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    mp.setattr(manifest, "atomic_write", write)
    return out


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad") / "demo"
    _ground_truth_demo(root)
    return root


def _foreign_export_folder(tmp: Path) -> Path:
    out = tmp / "out"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"files": [{"path": "notes.txt"}, {"path": "thesis.pdf"}]}))
    (out / "notes.txt").write_text("notes")
    (out / "thesis.pdf").write_bytes(b"%PDF my thesis")
    return out


IMPORT_CASES: dict[str, Callable[[Path, pytest.MonkeyPatch], tuple[Path, Path]]] = {
    "source: symlink loop": lambda t, mp: (_loop(t), t / "p"),
    "source: FIFO": lambda t, mp: (_fifo(t), t / "p"),
    "source: character device": lambda t, mp: (Path("/dev/zero"), t / "p"),
    "source: missing": lambda t, mp: (t / "missing.mp4", t / "p"),
    "source: name too long": lambda t, mp: (t / ("v" * 300 + ".mp4"), t / "p"),
    "source: random bytes": lambda t, mp: (_file(t / "junk.mp4", os.urandom(40000)), t / "p"),
    "source: empty file": lambda t, mp: (_file(t / "empty.webm", b""), t / "p"),
    "source: PNG claiming 100000x100000": lambda t, mp: (_folder_with(t, "b.png", png_header(100_000, 100_000)), t / "p"),
    "source: PNG claiming 12000x12000": lambda t, mp: (_folder_with(t, "b.png", png_header(12_000, 12_000)), t / "p"),
    "source: folder without images": lambda t, mp: (_file(t / "empty" / "notes.txt", b"x").parent, t / "p"),
    "source: mkv cut at 50%": lambda t, mp: (_cut(t, "mkv", "libx264"), t / "p"),
    "source: webm cut at 50%": lambda t, mp: (_cut(t, "webm", "libvpx-vp9"), t / "p"),
    "source: mp4 cut at 50%": lambda t, mp: (_cut(t, "mp4", "libx264"), t / "p"),
    "source: mp4 resolution change": lambda t, mp: (make_resizing_video(t / "r.mp4", [(96, 64), (64, 48)]), t / "p"),
    "source: mkv resolution change": lambda t, mp: (make_resizing_video(t / "r.mkv", [(96, 64), (64, 48)]), t / "p"),
    "destination: name too long": lambda t, mp: (_video(t), t / ("p" * 300)),
    "destination: a file": lambda t, mp: (_video(t), t / "ok.mp4"),
    "destination: project.json missing, .bak kept": lambda t, mp: (_video(t), _damaged_project(t, True)),
    "destination: project.json and .bak missing": lambda t, mp: (_video(t), _damaged_project(t, False)),
    "destination: user's own journal.log": lambda t, mp: (_video(t), _users_folder(t, "journal.log")),
    "destination: user's own layers.h5": lambda t, mp: (_video(t), _users_folder(t, "layers.h5")),
    "destination: existing project": lambda t, mp: (_video(t), _project(t)),
    "destination: disk nearly full": lambda t, mp: (_video(t), _low_disk(mp, t / "p")),
    "destination: disk full during the import (ENOSPC)": lambda t, mp: (_video(t), _enospc_on_proxy(mp, t / "p")),
}


def _one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI in a thread (a hang fails the test instead of the suite); its single stderr line."""
    capsys.readouterr()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(main(argv)), daemon=True)
    # pytest would swallow warnings that a user sees on stderr (PIL's DecompressionBombWarning): record them
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        thread.start()
        thread.join(120)
    assert result, f"celstudio {' '.join(argv)} hung"
    assert not [w for w in caught if not issubclass(w.category, DeprecationWarning)], [str(w.message) for w in caught]
    err = capsys.readouterr().err
    assert result == [1], err
    lines = [line for line in err.splitlines() if line.strip() and "\r" not in line and not line.startswith("import ")]
    assert len(lines) == 1 and lines[0].startswith("celstudio: error: "), err
    assert "Traceback" not in err and "Warning" not in err, err
    return lines[0]


def _files(root: Path) -> dict[str, bytes]:
    if not root.is_dir():
        return {}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", sorted(IMPORT_CASES))
def test_bad_import_gives_one_line_and_loses_nothing(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    src, dest = IMPORT_CASES[case](tmp_path, monkeypatch)
    existed = os.path.lexists(dest) if len(dest.name) < 255 else False
    before = _files(dest) if existed else {}
    _one_line_error(["import", str(src), str(dest)], capsys)
    if existed:
        assert _files(dest) == before  # nothing already there was replaced or removed
    else:
        assert len(dest.name) >= 255 or not dest.exists()  # a failed import leaves nothing behind


def test_unfinished_import_is_reported_by_every_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _killed_import(tmp_path)
    for command in ("info", "recover", "export"):
        argv = [command, str(root)] + ([str(tmp_path / "out")] if command == "export" else [])
        line = _one_line_error(argv, capsys)
        assert "did not finish" in line and "celstudio import" in line


EXPORT_CASES: dict[str, Callable[[Path, pytest.MonkeyPatch], tuple[Path, list[str]]]] = {
    "out: foreign manifest.json listing the user's files": lambda t, mp: (_foreign_export_folder(t), []),
    "out: the user's own files": lambda t, mp: (_users_folder(t, "thesis.pdf"), []),
    "out: name too long": lambda t, mp: (t / ("o" * 300), []),
    "out: a file": lambda t, mp: (_users_folder(t, "thesis.pdf") / "thesis.pdf", []),
    "out: disk nearly full": lambda t, mp: (_low_disk(mp, t / "out"), []),
    "out: disk full while writing (ENOSPC)": lambda t, mp: (_enospc_on_export(mp, t / "out"), []),
    "option: unknown format": lambda t, mp: (t / "out", ["--format", "nope"]),
}


@pytest.mark.parametrize("case", sorted(EXPORT_CASES))
def test_bad_export_gives_one_line_and_loses_nothing(case: str, project: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out, extra = EXPORT_CASES[case](tmp_path, monkeypatch)
    holder = out if len(out.name) < 255 and out.is_dir() else out.parent
    before = _files(holder)
    line = _one_line_error(["export", str(project), str(out), "--option", "frames=0,1", *extra], capsys)
    if "full" in case:
        assert "run it again to resume" in line
        doc = json.loads((out / "manifest.json").read_text()) if (out / "manifest.json").exists() else None
        assert doc is None or doc["complete"] is False  # a partial export is never reported complete
    else:
        assert _files(holder) == before


def test_case_counts() -> None:
    """docs/reliability.md quotes these counts."""
    assert len(IMPORT_CASES) == 24 and len(EXPORT_CASES) == 7
