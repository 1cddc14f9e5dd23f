"""Counting what the pipeline computes: tests that an edit re-runs only what it changed share it."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from app.pipeline.stages import STAGE_FUNCTIONS


def count_steps(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """From now on, how many frames each stage computes (stage -> frames, counted as they run)."""
    steps: Counter[str] = Counter()
    for name, fn in list(STAGE_FUNCTIONS.items()):
        def counted(ctx: Any, shot: Any, targets: list[int], fn: Any = fn, name: str = name) -> None:
            steps[name] += len(targets)
            fn(ctx, shot, targets)
        monkeypatch.setitem(STAGE_FUNCTIONS, name, counted)
    return steps
