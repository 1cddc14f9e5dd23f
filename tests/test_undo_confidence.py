"""A propagation's confidence side file (`app.store.undo_confidence`): the maps are deflated once, when
kept in memory, and the file stores those bytes as they are; undo and redo give back the very maps
kept, from such a file and from one written before (the maps themselves, deflated by numpy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from app.store import Manifest, Project, SourceInfo, undo_confidence

W, H = 64, 48


def _maps(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.clip(200 + rng.normal(0, 20, (H, W)), 0, 255).astype(np.uint8) for _ in range(n)]


def _project(root: Path) -> Project:
    return Project.create(root, Manifest("p", SourceInfo("generated", "", "h"), 4, W, H, 24.0))


def _read(p: Project, frame: int) -> np.ndarray:
    stored = p.layers.read("confidence", frame)
    assert stored is not None
    return stored


def test_the_side_file_stores_the_packed_bytes_and_undo_and_redo_restore_the_maps(tmp_path: Path) -> None:
    before_maps, after_maps = _maps(4, 1), _maps(4, 2)
    with _project(tmp_path / "p") as p:
        before: dict[int, tuple[bytes, dict[str, Any]] | None] = {
            f: (undo_confidence.pack(m), {"stage": "propagate", "n": f}) for f, m in enumerate(before_maps[:3])}
        before[3] = None  # frame 3 had no confidence
        after = {f: undo_confidence.pack(m) for f, m in enumerate(after_maps)}
        assert undo_confidence.save(p, 7, before, after) > 0
        with np.load(undo_confidence.side_path(p, 7)) as data:
            # Deflated once: the file holds the bytes kept in memory, not the maps deflated again.
            assert bytes(data["a2"]) == after[2] and bytes(data["b0"]) == before[0][0]  # type: ignore[index]
            assert "b3" not in data.files
        assert undo_confidence.restore(p, 7, "redo") == [0, 1, 2, 3]
        assert all(np.array_equal(_read(p, f), after_maps[f]) for f in range(4))
        assert undo_confidence.restore(p, 7, "undo") == [0, 1, 2, 3]
        assert all(np.array_equal(_read(p, f), before_maps[f]) for f in range(3))
        assert p.layers.read("confidence", 3) is None and p.layers.meta("confidence", 1) == {"stage": "propagate", "n": 1}


def test_a_side_file_written_before_holding_the_maps_themselves_still_restores(tmp_path: Path) -> None:
    before_maps, after_maps = _maps(2, 3), _maps(2, 4)
    with _project(tmp_path / "p") as p:
        path = undo_confidence.side_path(p, 5)
        path.parent.mkdir()
        arrays = {"a0": after_maps[0], "a1": after_maps[1], "b0": before_maps[0],
                  "meta": np.frombuffer(b'{"0": {"stage": "propagate"}}', np.uint8)}
        np.savez_compressed(path, **arrays)  # type: ignore[arg-type]
        assert undo_confidence.restore(p, 5, "redo") == [0, 1]
        assert all(np.array_equal(_read(p, f), after_maps[f]) for f in range(2))
        undo_confidence.restore(p, 5, "undo")
        assert np.array_equal(_read(p, 0), before_maps[0]) and p.layers.read("confidence", 1) is None
