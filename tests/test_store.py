"""The project store: manifest, layers, journal, undo, recovery."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.errors import ProjectDamaged, ProjectError
from app.store import Manifest, MaskEdit, Project, SourceInfo
from app.store.journal import Journal


def make_project(root: Path, frames: int = 8, w: int = 40, h: int = 30) -> Project:
    return Project.create(root, Manifest("t", SourceInfo("generated", "", "h"), frames, w, h, 24.0))


def square(h: int, w: int, y: int, x: int, size: int, value: int = 1) -> np.ndarray:
    labels = np.zeros((h, w), np.uint8)
    labels[y : y + size, x : x + size] = value
    return labels


def test_layers_round_trip_and_versions(tmp_path: Path) -> None:
    with make_project(tmp_path / "p") as p:
        assert p.layers.read("alpha", 2) is None and p.layers.version("alpha", 2) == 0
        soft = np.linspace(0, 1, 30 * 40, dtype=np.float32).reshape(30, 40)
        assert p.layers.write("alpha", 2, soft, {"backend": "x"}) == 1
        assert p.layers.write("alpha", 2, soft) == 2
        back = p.layers.read("alpha", 2)
        assert back is not None and back.dtype == np.uint8
        assert np.abs(back.astype(int) - np.rint(soft * 255).astype(int)).max() == 0
        assert p.layers.version("alpha", 3) == 0
        with pytest.raises(ValueError):
            p.layers.write("masks", 0, np.zeros((10, 10), np.uint8))
        p.layers.write_vector("clip", 4, np.arange(5))
        vec = p.layers.read_vector("clip", 4)
        assert vec is not None and vec.tolist() == [0, 1, 2, 3, 4]
        assert p.layers.read_vector("clip", 5) is None


def test_commit_undo_redo_survive_reopen(tmp_path: Path) -> None:
    root = tmp_path / "p"
    with make_project(root) as p:
        empty = np.zeros((30, 40), np.uint8)
        first = square(30, 40, 5, 5, 10)
        p.commit("click", [MaskEdit(3, empty, first, 1)], {"points": [[10, 10, True]]})
        second = first.copy()
        second[20:25, 20:25] = 2
        p.commit("brush", [MaskEdit(3, first, second, 2)])
        p.undo()
        assert np.array_equal(p.masks_or_empty(3), first)
    with Project.open(root) as p:
        assert np.array_equal(p.masks_or_empty(3), first)
        p.redo()
        assert np.array_equal(p.masks_or_empty(3), second)
        p.undo()
        p.undo()
        assert np.array_equal(p.masks_or_empty(3), empty)
        assert p.undo() is None
        assert p.corrected_frames() == {}


def test_newer_schema_refuses_with_clear_message(tmp_path: Path) -> None:
    root = tmp_path / "p"
    make_project(root).close()
    data = json.loads((root / "project.json").read_text())
    data["schema_version"] = 99
    (root / "project.json").write_text(json.dumps(data))
    with pytest.raises(ProjectError, match="newer Celstudio"):
        Project.open(root)


def test_not_a_project(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="not a Celstudio project"):
        Project.open(tmp_path)


def test_torn_journal_tail_is_ignored_on_read_and_cut_before_the_next_append(tmp_path: Path) -> None:
    root = tmp_path / "p"
    with make_project(root) as p:
        p.commit("click", [MaskEdit(1, np.zeros((30, 40), np.uint8), square(30, 40, 0, 0, 4), 1)])
    journal_path = root / "journal.log"
    size = journal_path.stat().st_size
    with open(journal_path, "ab") as fh:
        fh.write(b"\x40\x00\x00\x00\x00\x00\x00\x00{half a rec")
    torn = journal_path.read_bytes()
    journal = Journal(journal_path)
    assert [e.seq for e in journal.entries] == [1] and journal.damaged == []
    assert journal.torn_bytes == len(torn) - size and journal_path.read_bytes() == torn  # reading never writes
    journal.append("click", [MaskEdit(2, np.zeros((30, 40), np.uint8), square(30, 40, 0, 0, 5), 1)])
    assert journal.copied_to is not None and journal.copied_to.read_bytes() == torn  # kept before the cut
    assert [e.seq for e in Journal(journal_path).entries] == [1, 2]
    assert journal_path.read_bytes().startswith(torn[:size]) and Journal(journal_path).torn_bytes == 0


def test_damaged_layer_file_is_reported_then_rebuilt_from_journal(tmp_path: Path) -> None:
    root = tmp_path / "p"
    target = square(30, 40, 2, 3, 7, 4)
    with make_project(root) as p:
        p.commit("box", [MaskEdit(6, np.zeros((30, 40), np.uint8), target, 4)])
        p.layers.write("alpha", 6, np.ones((30, 40), np.float32))
    (root / "layers.h5").write_bytes(b"this is not an hdf5 file" * 100)
    with pytest.raises(ProjectDamaged) as info:
        Project.open(root)
    assert "1 confirmed corrections on 1 frames" in str(info.value)
    with Project.open(root, recover=True) as p:
        assert p.recovered_from is not None and p.recovered_from.exists()
        assert np.array_equal(p.masks_or_empty(6), target)
        assert p.layers.read("alpha", 6) is None  # pipeline output is recomputed, not invented


def test_shots_and_objects_persist(tmp_path: Path) -> None:
    from app.store import Shot

    root = tmp_path / "p"
    with make_project(root) as p:
        p.set_shots([Shot(0, 3), Shot(3, 8)])
        obj = p.add_object("Aoi")
        assert obj.id == 1 and p.shot_of(4) == Shot(3, 8)
    with Project.open(root) as p:
        assert p.shots == [Shot(0, 3), Shot(3, 8)]
        assert p.object(1) is not None and p.object(1).name == "Aoi"  # type: ignore[union-attr]


def test_cli_reports_damage_in_one_line_and_recovers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main

    root = tmp_path / "p"
    with make_project(root) as p:
        p.commit("box", [MaskEdit(2, np.zeros((30, 40), np.uint8), square(30, 40, 1, 1, 5, 3), 3)])
    (root / "layers.h5").write_bytes(b"garbage" * 50)
    assert main(["info", str(root)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "celstudio recover" in err and "Traceback" not in err
    assert main(["recover", str(root)]) == 0
    assert "rebuilt 1 corrections on 1 frames" in capsys.readouterr().out
    with Project.open(root) as p:
        assert np.array_equal(p.masks_or_empty(2), square(30, 40, 1, 1, 5, 3))
    assert main(["recover", str(root)]) == 0
    assert "nothing to recover" in capsys.readouterr().out


def test_delete_object_is_one_undoable_edit(tmp_path: Path) -> None:
    root = tmp_path / "p"
    with make_project(root) as p:
        hero = p.add_object("hero")
        other = p.add_object("other")
        both = square(30, 40, 2, 2, 6, hero.id)
        both[20:25, 20:25] = other.id
        p.commit("brush", [MaskEdit(1, np.zeros((30, 40), np.uint8), both, hero.id)])
        p.commit("brush", [MaskEdit(4, np.zeros((30, 40), np.uint8), square(30, 40, 0, 0, 3, hero.id), hero.id)])
        entry = p.delete_object(hero.id)
        assert entry is not None and entry.frames == (1, 4)
        assert not (p.masks_or_empty(1) == hero.id).any() and (p.masks_or_empty(1) == other.id).sum() == 25
        assert [o.name for o in p.manifest.objects] == ["other"]
    with Project.open(root) as p:  # survives a restart, and so does its undo
        assert [o.name for o in p.manifest.objects] == ["other"]
        p.undo()
        assert np.array_equal(p.masks_or_empty(1), both)
        assert [o.name for o in p.manifest.objects] == ["hero", "other"]
        p.redo()
        assert [o.name for o in p.manifest.objects] == ["other"] and not (p.masks_or_empty(4) == hero.id).any()
