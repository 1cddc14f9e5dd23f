"""The project lock: one writing Celstudio process per project folder.

``project.lock`` holds the holder's process id and host. The lock itself is an ``flock`` on that
file, which the kernel drops when the holder dies, so a lock left behind by a crash is stale by
construction: the next opener takes it over (and says so) instead of refusing forever. Read-only opens
(``info``, ``export``) take no lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from app.errors import ProjectError, ProjectLocked

LOCK_FILE = "project.lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: fall back to a process-id check
    fcntl = None  # type: ignore[assignment]


def read_holder(root: Path) -> dict[str, Any]:
    """What ``project.lock`` says about its holder ({} when absent or unreadable)."""
    try:
        data = json.loads((root / LOCK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _locked_message(root: Path, pid: int) -> str:
    if pid == os.getpid():
        return f"The project {root.name} is already open in this Celstudio window; close it there first, or open it read-only."
    who = f" (pid {pid})" if pid else ""
    return (
        f"The project {root.name} is open in another Celstudio window{who}; close it there, "
        "or open it read-only (`celstudio info` and `celstudio export` work while it is open)."
    )


def live_holder(root: Path) -> int:
    """The pid of a live process holding the project's lock (0 when none): a reader that meets an
    inconsistent file beside a live writer is racing it, not looking at damage."""
    path = root / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return 0
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return int(read_holder(root).get("pid", 0) or 0) or -1
            fcntl.flock(fd, fcntl.LOCK_UN)
            return 0
        pid = int(read_holder(root).get("pid", 0) or 0)  # pragma: no cover - no flock
        return pid if pid and _pid_alive(pid) else 0
    finally:
        os.close(fd)


class ProjectLock:
    """An acquired project lock; `release` (or process exit) frees it."""

    def __init__(self, path: Path, fd: int, stale_pid: int) -> None:
        self.path = path
        self._fd = fd
        self.stale_pid = stale_pid  # the pid of a crashed holder whose lock was taken over, else 0

    @classmethod
    def acquire(cls, root: Path) -> ProjectLock:
        path = root / LOCK_FILE
        for _ in range(5):  # a holder may unlink the file between our open and our flock
            previous = read_holder(root)
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise ProjectError(f"The project lock {path} cannot be created ({exc.strerror or exc}).") from exc
            if not _try_lock(fd, previous):
                os.close(fd)
                pid = int(read_holder(root).get("pid", 0) or previous.get("pid", 0) or 0)
                raise ProjectLocked(_locked_message(root, pid), pid)
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            stale = int(previous.get("pid", 0) or 0)
            body = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}).encode()
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, body, 0)
            except OSError as exc:
                os.close(fd)
                raise ProjectError(f"The project lock {path} cannot be written ({exc.strerror or exc}).") from exc
            return cls(path, fd, stale if stale and stale != os.getpid() else 0)
        raise ProjectLocked(_locked_message(root, 0))

    def release(self) -> None:
        if self._fd < 0:
            return
        # Unlink while still holding it, so nobody takes over a file that is about to vanish.
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = -1


def _try_lock(fd: int, previous: dict[str, Any]) -> bool:
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    pid = int(previous.get("pid", 0) or 0)  # pragma: no cover - no flock: trust a live pid on this host
    return not (pid and previous.get("host") == socket.gethostname() and _pid_alive(pid))
