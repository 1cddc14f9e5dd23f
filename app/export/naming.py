"""Safe output names: whatever a character or object is called, a file stays inside the output folder."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path, PurePosixPath

from app.errors import CelstudioError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
MAX_PART = 80


class ExportError(CelstudioError):
    """An export cannot be done as asked (bad option, bad output folder, nothing to export)."""


class ExportCancelled(CelstudioError):
    """The user cancelled an export; finished files and the manifest are kept, a re-run resumes."""


def sanitize(name: str, fallback: str = "item") -> str:
    """A name made of ``[A-Za-z0-9._-]``, never ``.``/``..``, never empty, at most 80 characters.

    Accents are folded to ASCII first so "Hikarú" stays readable as "Hikaru"; separators (``/``,
    ``\\``, ``:``) and anything else become ``_``; leading dots go so no hidden or parent names result.
    """
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    text = _UNSAFE.sub("_", text).strip("._-")
    text = re.sub(r"_+", "_", text)[:MAX_PART].strip("._-")
    if not text or text.lower() in _RESERVED:
        text = f"{fallback}_{text}" if text else fallback
    return text


def trigger_word(name: str) -> str:
    """A caption trigger word: sanitised, lower case, no dots (tokenisers split on them)."""
    return sanitize(name, "character").replace(".", "_").lower()


def safe_relpath(*parts: str) -> str:
    """Join already-sanitised parts into a POSIX relative path, refusing anything that could escape."""
    rel = PurePosixPath(*parts)
    if rel.is_absolute() or any(p in ("", ".", "..") or "\\" in p for p in rel.parts):
        raise ExportError(f"Refusing the unsafe output name {str(rel)!r}.")
    return rel.as_posix()


def resolve_inside(root: Path, rel: str) -> Path:
    """``root / rel``, checked to lie inside ``root`` even after symlinks are resolved."""
    base = root.resolve()
    path = (base / safe_relpath(*PurePosixPath(rel).parts)).resolve()
    if path != base and base not in path.parents:
        raise ExportError(f"Refusing to write {rel!r} outside the output folder.")
    return path
