"""``celstudio models ...``: the model manager on the command line (tables, progress, exit codes)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from models.download import DownloadCancelled
from models.errors import CelstudioError
from models.manager import ModelManager, ModelRow


def _human(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def format_models_table(rows: list[ModelRow]) -> str:
    """A plain-text table of `ModelManager.list` rows."""
    header = ("NAME", "ROLE", "SIZE", "INSTALLED", "VERIFIED", "LICENSE")
    body = [
        (
            r.name,
            r.role,
            ("" if r.size_exact or r.size is None else "~") + _human(r.size),
            "yes" if r.installed else "no",
            ("yes" if r.verified else "no") if r.installed else "-",
            r.license,
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in (header, *body)) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in (header, *body)
    )


def progress_bar(label: str, done: int, total: int, width: int = 30) -> str:
    """One line of download progress, to be printed after a carriage return."""
    if total <= 0:
        return f"{label} {_human(done)}"
    frac = min(done / total, 1.0)
    fill = round(frac * width)
    return f"{label} [{'#' * fill}{'.' * (width - fill)}] {frac * 100:5.1f}% {_human(done)}/{_human(total)}"


_USAGE = "usage: celstudio models list | download NAME | verify [NAME] | path [NAME] | install NAME FILE"


def run_models_command(
    args: list[str], manager: ModelManager | None = None, out: TextIO | None = None
) -> int:
    """Run ``celstudio models ARGS``; returns the exit status. User errors print one line, status 1."""
    stream = out if out is not None else sys.stdout
    mgr = manager if manager is not None else ModelManager()
    cmd, rest = (args[0], args[1:]) if args else ("list", [])
    try:
        if cmd == "list" and not rest:
            print(format_models_table(mgr.list()), file=stream)
            print(f"weights folder: {mgr.weights_dir}", file=stream)
            return 0
        if cmd == "download" and len(rest) == 1:
            name = rest[0]

            def show(done: int, total: int) -> None:
                stream.write("\r" + progress_bar(name, done, total))
                stream.flush()

            path = mgr.download(name, progress=show)
            print(f"\n{name} installed and verified: {path}", file=stream)
            return 0
        if cmd == "verify" and len(rest) <= 1:
            names = rest or [r.name for r in mgr.list() if r.installed]
            status = 0
            for name in names:
                if mgr.path(name) is None:
                    print(f"{name}: not installed", file=stream)
                    status = 1
                elif mgr.verify(name):
                    print(f"{name}: ok", file=stream)
                else:
                    print(f"{name}: CORRUPT - run `celstudio models download {name}` again", file=stream)
                    status = 1
            if not names:
                print("no models installed", file=stream)
            return status
        if cmd == "path" and len(rest) <= 1:
            if not rest:
                print(mgr.weights_dir, file=stream)
                return 0
            found = mgr.path(rest[0])
            print(found if found is not None else f"{rest[0]}: not installed", file=stream)
            return 0 if found is not None else 1
        if cmd == "forget" and len(rest) == 1:
            mgr.forget(rest[0])
            print(f"{rest[0]}: recorded checksums forgotten", file=stream)
            return 0
        if cmd == "install" and len(rest) == 2:
            print(
                f"{rest[0]} installed and verified: {mgr.install_local(rest[0], Path(rest[1]))}", file=stream
            )
            return 0
    except DownloadCancelled as exc:
        print(f"\n{exc}", file=stream)
        return 130
    except CelstudioError as exc:
        print(f"\nerror: {exc}", file=stream)
        return 1
    print(_USAGE, file=stream)
    return 2
