"""Where Celstudio keeps things: sample projects, user data, weights."""

from __future__ import annotations

from pathlib import Path

import platformdirs

REPO_ROOT = Path(__file__).resolve().parents[1]


def projects_dir() -> Path:
    """``projects/`` beside the code when run from a checkout, else the user's data folder."""
    local = REPO_ROOT / "projects"
    if (REPO_ROOT / "pyproject.toml").is_file():
        return local
    return Path(platformdirs.user_data_dir("celstudio")) / "projects"


def shared_dir() -> Path | None:
    """The development data folder ``../shared`` beside a checkout, when present."""
    path = REPO_ROOT.parent / "shared"
    return path if path.is_dir() else None
