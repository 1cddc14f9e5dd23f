"""Where an import writes: refusing folders it would damage, free space, and undoing a failed import.

The rule is git's and SQLite's: never replace or delete a file this import did not write. A folder
that already holds files a project would use (a damaged project, a user's own ``journal.log``) is
refused with the way out (`celstudio recover`, or another folder); only an import interrupted
earlier - its completion marker proves Celstudio made the files - is replaced.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from app.errors import ProjectError
from app.sources.images import ImageFolderSource
from app.sources.source import FrameSource
from app.store.importmark import IMPORT_MARKER, unfinished_import_source
from app.store.manifest import MANIFEST_NAME
from app.store.media import proxy_size, thumbnail_size
from app.store.project import PROJECT_FILES

__all__ = ["Destination", "NotEnoughSpace", "disk_nearly_full", "free_space_check", "import_bytes_needed", "mb", "prepare_destination",
           "remove_import"]

# Every name an import may write into the project folder (the write probe comes from Project.create).
IMPORT_FILES = (*PROJECT_FILES, IMPORT_MARKER, f"{IMPORT_MARKER}.tmp", ".write-test")
# Kept free beyond the estimate: HDF5 metadata, the manifest and the index still have to fit.
SPACE_RESERVE = 64 << 20
# JPEG proxies of anime (quality 92) measured at 0.07-0.075 bytes per raw byte; 0.1 leaves margin.
PROXY_RATIO = 0.1


class NotEnoughSpace(ProjectError):
    """The free-space check refused the import before the disk filled up (nothing was harmed)."""


@dataclass
class Destination:
    """A checked project folder: what was there before, and what the import created."""

    root: Path
    existing_ancestor: Path
    preexisting: frozenset[str] = frozenset()
    leftovers: tuple[str, ...] = ()  # files of an interrupted earlier import, replaced by this one
    created_dirs: list[Path] = field(default_factory=list)

    def make(self) -> None:
        """Create the folder (recording which levels were new) and clear an interrupted import."""
        for name in self.leftovers:
            (self.root / name).unlink(missing_ok=True)
        missing = [p for p in [self.root, *self.root.parents] if p != self.existing_ancestor and
                   self.existing_ancestor in p.parents]
        for folder in sorted(missing, key=lambda p: len(p.parts)):
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise ProjectError(f"Cannot create the project folder {folder} ({exc.strerror or exc}).") from exc
            self.created_dirs.append(folder)


def _stat_reason(exc: OSError) -> str:
    if exc.errno == errno.ENAMETOOLONG:
        return "has a name longer than the file system allows"
    if exc.errno == errno.ELOOP:
        return "is a symbolic link that loops back on itself"
    if exc.errno == errno.EACCES:
        return "cannot be read (permission denied)"
    return f"cannot be used ({exc.strerror or exc})"


def _check_name_lengths(root: Path, ancestor: Path) -> None:
    try:
        name_max = os.pathconf(ancestor, "PC_NAME_MAX")
        path_max = os.pathconf(ancestor, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    for part in root.relative_to(ancestor).parts:
        size = len(os.fsencode(part))
        if size > name_max:
            raise ProjectError(
                f"The folder name {part[:32]}... is {size} bytes long; the file system at {ancestor} "
                f"allows at most {name_max}."
            )
    if len(os.fsencode(str(root.absolute()))) >= path_max:
        raise ProjectError(f"The project path {str(root)[:48]}... is longer than the file system allows.")


def prepare_destination(root: Path) -> Destination:
    """Check ``root`` before anything is written; raise `ProjectError` when the import would harm it."""
    root = Path(os.path.abspath(root))
    probe = root
    while True:
        try:
            st = os.stat(probe)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENAMETOOLONG) and probe.parent != probe:
                probe = probe.parent  # not there (yet): the name lengths are checked below
                continue
            raise ProjectError(f"The project folder {probe} {_stat_reason(exc)}.") from exc
        break
    if not stat.S_ISDIR(st.st_mode):
        raise ProjectError(f"{probe} is a file, not a folder; choose a folder for the project.")
    if probe != root:
        _check_name_lengths(root, probe)
        return Destination(root, probe)
    try:
        names = frozenset(os.listdir(root))
    except OSError as exc:
        raise ProjectError(f"The project folder {root} {_stat_reason(exc)}.") from exc
    ours = sorted(names & set(IMPORT_FILES))
    if unfinished_import_source(root) is not None:
        return Destination(root, root, names - set(ours), tuple(ours))
    if MANIFEST_NAME in names:
        raise ProjectError(f"A project already exists at {root}.")
    clashes = [n for n in ours if n not in (".write-test",)]
    if clashes:
        raise ProjectError(
            f"{root} already holds {', '.join(clashes)} but no {MANIFEST_NAME}: if it is a damaged Celstudio "
            f"project, run `celstudio recover {root}`; otherwise import into a new or empty folder."
        )
    return Destination(root, root, names)


def remove_import(dest: Destination) -> None:
    """Undo a failed import: the files it wrote, then the folders it made if they are empty again."""
    for name in IMPORT_FILES:
        if name not in dest.preexisting:
            with suppress(OSError):  # best effort: the original error is what the user needs to see
                (dest.root / name).unlink(missing_ok=True)
    for folder in sorted(dest.created_dirs, key=lambda p: len(p.parts), reverse=True):
        try:
            folder.rmdir()  # only when empty: a file someone put there meanwhile is kept
        except OSError:
            break


def import_bytes_needed(source: FrameSource) -> int:
    """An upper estimate of what an import of ``source`` writes: proxies, thumbnails, image bytes."""
    pw, ph = proxy_size(source.width, source.height)
    tw, th = thumbnail_size(source.width, source.height)
    per_frame = int(pw * ph * 3 * PROXY_RATIO) + tw * th * 3
    stored = 0
    if isinstance(source, ImageFolderSource):
        stored = sum(f.stat().st_size for f in source.files)  # kept byte for byte (or as smaller PNG)
    return source.frame_count * per_frame + stored + (1 << 20)


def disk_nearly_full(where: Path) -> bool:
    """True when the disk holding ``where`` has less than the reserve free (or cannot be asked)."""
    with suppress(OSError):
        return shutil.disk_usage(where).free < SPACE_RESERVE
    return False


def free_space_check(where: Path, root: Path, needed: int, what: str) -> None:
    """Raise `ProjectError` unless the disk holding ``where`` has ``needed`` bytes plus a reserve free."""
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        return  # cannot tell (e.g. a network file system): the ENOSPC handling still applies
    if free < needed + SPACE_RESERVE:
        raise NotEnoughSpace(
            f"Not enough free space for {what} into {root}: it needs about {mb(needed + SPACE_RESERVE)} MB "
            f"and the disk has {mb(free)} MB free."
        )


def mb(n: int) -> int:
    """Bytes as whole MB, rounded up (what a message about space should say)."""
    return max(1, -(-int(n) // (1 << 20)))
