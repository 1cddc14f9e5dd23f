"""Issue #13 points 1 and 4 in the Qt-free correction code: a click never silently empties an object,
and a click for object A on object B's pixels takes that region for A in one edit."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import pytest

from app.pipeline import interactive
from app.store import MaskEdit, Project, Shot
from app.store.manifest import Manifest, SourceInfo
from models.base import ClickSegmenter, Prompt
from models.classical.clicks import RegionClicker

W, H = 160, 96


def _project(root: Path) -> Project:
    project = Project.create(root, Manifest("p", SourceInfo("generated", "", "h"), 2, W, H, 24.0, shots=[Shot(0, 2)]))
    image = np.full((H, W, 3), 235, np.uint8)
    image[20:70, 10:60] = (220, 40, 40)  # A: a flat red character
    image[20:70, 90:150] = (40, 60, 200)  # B: a flat blue one
    for f in range(2):
        project.media.write_frame(f, image)
    a, b = project.add_object("A"), project.add_object("B")
    labels = np.zeros((H, W), np.uint8)
    labels[20:70, 10:60] = a.id
    labels[20:70, 90:150] = b.id
    project.commit("seed", [MaskEdit(0, project.masks_or_empty(0), labels, 0, "user")])
    return project


class PriorBound:
    """Like a deep click model given A's mask as input: with a prior it only grows it a little around
    the click; alone, it returns the flat colour region under the click."""

    def predict(self, image_id: str, image: np.ndarray, prompt: Prompt, prior: np.ndarray | None) -> np.ndarray:
        x, y, _ = (int(v) for v in prompt.points[-1])
        if prior is not None:
            yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
            return prior | ((xx - x) ** 2 + (yy - y) ** 2 <= 16)
        return np.all(image == image[y, x], axis=2)


@pytest.mark.parametrize("clicker", [PriorBound(), RegionClicker()], ids=["prior-bound", "classical"])
def test_click_for_a_on_b_takes_the_region_in_one_edit(tmp_path: Path, clicker: object) -> None:
    with _project(tmp_path / "p") as project:
        a, b = (o.id for o in project.manifest.objects)
        interactive.click_correction(project, cast(ClickSegmenter, clicker), 0, a, Prompt(points=((120.0, 45.0, True),)))
        after = project.masks_or_empty(0)
        region = np.zeros((H, W), bool)
        region[22:68, 92:148] = True  # B's region, away from its anti-aliased rim
        assert (after[region] == a).mean() > 0.95
        assert (after[20:70, 10:60] == a).all()  # A keeps what it had
        project.undo()  # one undo step restores B
        assert (project.masks_or_empty(0)[region] == b).all()


class _Wipe:
    """A click model whose answer is (almost) nothing, as a slip of the box tool gave."""

    def predict(self, image_id: str, image: np.ndarray, prompt: Prompt, prior: np.ndarray | None) -> np.ndarray:
        mask = np.zeros(image.shape[:2], bool)
        mask[0, 0] = True
        return mask


def test_a_result_that_empties_an_object_is_refused(tmp_path: Path) -> None:
    with _project(tmp_path / "p") as project:
        a = project.manifest.objects[0].id
        before = project.masks_or_empty(0).copy()
        with pytest.raises(interactive.EditRefused, match="not applied"):
            interactive.click_correction(project, cast(ClickSegmenter, _Wipe()), 0, a, Prompt(box=(100.0, 100.0, 104.0, 102.0)))
        assert np.array_equal(project.masks_or_empty(0), before)
