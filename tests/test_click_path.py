"""What a click's path to the screen skips, and that it shows the same thing: the masks a click reads
and writes come from memory, not the file, while staying exactly what the file holds; the overlay is
drawn only around the objects, pixel for pixel what drawing the whole frame gave."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from app.store import Manifest, Project, SourceInfo
from app.store.layers import RECENT_FRAMES, LayerStore
from app.ui import render

H, W = 72, 120


def whole_frame_masks(labels: NDArray[np.uint8], colors: dict[int, tuple[int, int, int]],
                      active: int | None = None) -> NDArray[np.uint8]:
    """The overlay as it was drawn before: the box drawing applied to every pixel of the frame (the
    reference; what is tested is that drawing only the box around the objects changes nothing)."""
    return render._render_box(labels, render.display_colors(colors, labels), active)


def _maps() -> list[NDArray[np.uint8]]:
    rng = np.random.default_rng(3)
    maps = [np.zeros((H, W), np.uint8)]
    one = np.zeros((H, W), np.uint8)
    one[30, 50] = 2  # a single pixel: the smallest box
    maps.append(one)
    for _ in range(6):
        labels = np.zeros((H, W), np.uint8)
        for oid in rng.choice(np.arange(1, 9), 3, replace=False):
            cx, cy = int(rng.integers(-10, W + 10)), int(rng.integers(-10, H + 10))  # some touch the border
            cv2.circle(labels, (cx, cy), int(rng.integers(3, 25)), int(oid), -1)
        maps.append(labels)
    return maps


@pytest.mark.parametrize("active", [None, 2, 5])
def test_the_overlay_drawn_around_the_objects_equals_the_whole_frame_one(active: int | None) -> None:
    colors = {2: (200, 30, 30), 5: (20, 20, 120)}  # 5 is dark: lifted; other ids get palette colours
    for labels in _maps():
        assert np.array_equal(render.render_masks(labels, colors, active), whole_frame_masks(labels, colors, active))


def _masks(store: LayerStore, frame: int) -> NDArray[np.uint8]:
    labels = store.read("masks", frame)
    assert labels is not None
    return labels


def _count_reads(store: LayerStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The frames ``store`` reads from its file from now on, in order."""
    reads: list[int] = []
    original = store.h5.read_row

    def counted(name: str, frame: int) -> Any:
        reads.append(frame)
        return original(name, frame)

    monkeypatch.setattr(store.h5, "read_row", counted)
    return reads


def _project(root: Path) -> Project:
    return Project.create(root, Manifest("t", SourceInfo("generated", "", "h"), 12, W, H, 24.0))


def test_masks_just_read_or_written_come_from_memory_and_equal_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with _project(tmp_path / "p") as p:
        store = p.layers.raw
        reads = _count_reads(store, monkeypatch)
        labels = _maps()[3]
        store.write("masks", 2, labels)
        got = store.read("masks", 2)
        assert got is not None and np.array_equal(got, labels) and reads == []  # the click's write, shown
        got[:] = 9  # the caller owns what it reads
        again = store.read("masks", 2)
        assert again is not None and np.array_equal(again, labels)
        labels[:] = 7  # and the writer keeps its array
        assert np.array_equal(_masks(store, 2), _maps()[3])
        # A frame read from the file once is kept: the click reads the masks its view just showed.
        store.write("masks", 5, _maps()[4])
        for f in range(6, 6 + RECENT_FRAMES):
            store.write("masks", f, _maps()[5])
        assert np.array_equal(_masks(store, 5), _maps()[4]) and reads == [5]
        assert np.array_equal(_masks(store, 5), _maps()[4]) and reads == [5]
        # A newer version is never answered from memory with the old map.
        store.write("masks", 5, _maps()[6])
        assert np.array_equal(_masks(store, 5), _maps()[6])
        store.forget("masks", 5)
        assert store.read("masks", 5) is None
        # Other layers always read the file.
        store.write("alpha", 2, np.full((H, W), 200, np.uint8))
        assert store.read("alpha", 2) is not None and reads[-1] == 2


def test_the_damage_check_reads_the_masks_from_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with _project(tmp_path / "p") as p:
        store = p.layers.raw
        for f in (3, 4):
            store.write("masks", f, _maps()[f])
        reads = _count_reads(store, monkeypatch)
        assert np.array_equal(_masks(store, 3), _maps()[3]) and reads == []  # kept in memory
        assert store.damaged_frames() == [] and reads == [3, 4]
