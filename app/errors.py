"""Errors a user can read.

Every failure the user can cause (a missing file, a corrupt video, a damaged project) is raised as a
`CelstudioError` whose message is one clear sentence; the CLI prints it on one line and the UI shows
it in a dialog. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

# The backends raise these too, and models sit below app: they are defined there, one class each.
from models.errors import CelstudioError, ModelUnavailable

__all__ = ["CelstudioError", "DiskFull", "ImportUnfinished", "InputError", "ModelUnavailable", "ProjectDamaged",
           "ProjectError", "ProjectLocked", "ProjectReadOnly", "is_disk_full"]


class InputError(CelstudioError):
    """The input (video, image folder, file path) cannot be used."""


class ProjectError(CelstudioError):
    """A project cannot be created, opened or written."""


class ProjectDamaged(ProjectError):
    """The project's layer file is damaged; `recoverable` says what the journal can rebuild."""

    def __init__(self, message: str, recoverable: str = "") -> None:
        super().__init__(message)
        self.recoverable = recoverable


class ImportUnfinished(ProjectError):
    """The import that made this project folder was interrupted; `source` is what to import again."""

    def __init__(self, message: str, source: str = "") -> None:
        super().__init__(message)
        self.source = source


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc`` or an error it came from is a full disk (h5py often only says so in words)."""
    import errno

    seen: BaseException | None = exc
    for _ in range(8):  # the chain of causes is short; bounded so a cycle cannot loop
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(seen) or "Disk quota exceeded" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class DiskFull(ProjectError):
    """A write failed because the disk is full; the message names the folder and the space needed."""


class ProjectLocked(ProjectError):
    """The project is open in another Celstudio process; ``pid`` is that process."""

    def __init__(self, message: str, pid: int = 0) -> None:
        super().__init__(message)
        self.pid = pid


class ProjectReadOnly(ProjectError):
    """The project folder cannot be written; it can still be opened read-only."""
