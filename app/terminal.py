"""Progress for the command line: a redrawn bar on a terminal, occasional plain lines in a log."""

from __future__ import annotations

import sys
import time


def bar(done: int, total: int, width: int = 28) -> str:
    filled = int(width * min(done, total) / max(total, 1))
    return f"[{'#' * filled}{'.' * (width - filled)}]"


class Progress:
    """Writes ``label [####....] done/total extra`` to stderr.

    On a terminal the line is redrawn in place; in a log (CI, a pipe) a line is written when the
    label changes, at the end, and at most every ``every_s`` seconds otherwise.
    """

    def __init__(self, every_s: float = 5.0) -> None:
        self.tty = sys.stderr.isatty()
        self.every_s = every_s
        self._label = ""
        self._last = 0.0

    def update(self, label: str, done: int, total: int, extra: str = "") -> None:
        text = f"{label:<9} {bar(done, total)} {done}/{total} {extra}".rstrip()
        if self.tty:
            sys.stderr.write("\r" + text + ("\n" if done >= total else ""))
        else:
            now = time.monotonic()
            if label == self._label and done < total and now - self._last < self.every_s:
                return
            self._label, self._last = label, now
            sys.stderr.write(text + "\n")
        sys.stderr.flush()
