"""Where Celstudio keeps things: sample projects, user data, weights."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

REPO_ROOT = Path(__file__).resolve().parents[1]


def projects_dir() -> Path:
    """``projects/`` beside the code when run from a checkout, else the user's data folder."""
    local = REPO_ROOT / "projects"
    if (REPO_ROOT / "pyproject.toml").is_file():
        return local
    return Path(platformdirs.user_data_dir("celstudio")) / "projects"


def weights_dir() -> Path:
    """The weights folder: ``$CELSTUDIO_WEIGHTS`` if set, else the user's data folder."""
    env = os.environ.get("CELSTUDIO_WEIGHTS")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("celstudio")) / "weights"


def shared_dir() -> Path | None:
    """The development data folder ``../shared`` beside a checkout, when present."""
    path = REPO_ROOT.parent / "shared"
    return path if path.is_dir() else None
