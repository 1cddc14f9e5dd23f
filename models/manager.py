"""Model weights on disk: where they live, downloading with resume, checksum verification.

The weights folder is ``platformdirs.user_data_dir("celstudio")/weights``, overridden by the
``CELSTUDIO_WEIGHTS`` environment variable and, above both, by an explicit path (the app setting).
A download is written to ``NAME.part`` next to its final place, resumed with an HTTP Range request when
interrupted, hashed, and only then moved into place with ``os.replace``; nothing half-written ever sits
under a final name. Hashes of artifacts with no published checksum are recorded in ``weights.lock.json``
on the first verified download (trust on first use). This module never imports torch.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from models.catalog import CATALOG, ModelEntry, catalog_by_name
from models.download import (
    CancelCallback,
    NotFound,
    ProgressCallback,
    fetch,
    file_digest,
)
from models.errors import ModelUnavailable

LOCK_NAME = "weights.lock.json"


@dataclass(frozen=True)
class ModelRow:
    """One line of `ModelManager.list`."""

    name: str
    role: str
    size: int | None
    installed: bool
    verified: bool
    license: str
    size_exact: bool = True


def default_weights_dir() -> Path:
    """``CELSTUDIO_WEIGHTS`` if set, else the per-user data folder's ``weights``."""
    env = os.environ.get("CELSTUDIO_WEIGHTS")
    if env:
        return Path(env).expanduser()
    try:
        import platformdirs

        return Path(platformdirs.user_data_dir("celstudio")) / "weights"
    except ImportError:  # platformdirs missing: the XDG default it would pick on Linux
        return Path.home() / ".local" / "share" / "celstudio" / "weights"



class ModelManager:
    """Lists, downloads, installs and verifies model weights.

    Parameters
    ----------
    weights_dir : Path | None
        The weights folder; `default_weights_dir` when ``None``.
    catalog : tuple[ModelEntry, ...] | None
        The known models; the built-in `models.catalog.CATALOG` when ``None`` (tests point entries at
        a local server this way).
    """

    def __init__(
        self, weights_dir: Path | None = None, catalog: tuple[ModelEntry, ...] | None = None
    ) -> None:
        self.weights_dir = Path(weights_dir) if weights_dir is not None else default_weights_dir()
        self.catalog = catalog_by_name(catalog if catalog is not None else CATALOG)

    # ---- lookup -------------------------------------------------------------------------------
    def entry(self, name: str) -> ModelEntry:
        """The catalog entry ``name``; `ModelUnavailable` for an unknown name."""
        try:
            return self.catalog[name]
        except KeyError:
            raise ModelUnavailable(
                f"There is no model named {name!r}; run `celstudio models list` to see the known ones."
            ) from None

    def _final(self, entry: ModelEntry) -> Path:
        return self.weights_dir / entry.filename

    def _part(self, entry: ModelEntry) -> Path:
        return self.weights_dir / (entry.filename + ".part")

    def path(self, name: str) -> Path | None:
        """The installed file or folder of ``name``, or ``None`` when it is not installed."""
        final = self._final(self.entry(name))
        return final if final.exists() else None

    def list(self) -> list[ModelRow]:
        """Every catalog entry with its install and (cheap, recorded) verification state."""
        return [
            ModelRow(
                e.name,
                e.role,
                e.size,
                self.path(e.name) is not None,
                self._recorded_ok(e),
                e.license,
                e.size_exact,
            )
            for e in self.catalog.values()
        ]

    # ---- lock file (recorded hashes) -----------------------------------------------------------
    def _lock(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads((self.weights_dir / LOCK_NAME).read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_lock(self, data: dict[str, dict[str, object]]) -> None:
        self.weights_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.weights_dir / (LOCK_NAME + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), "utf-8")
        os.replace(tmp, self.weights_dir / LOCK_NAME)

    def _record(self, entry: ModelEntry, hashes: dict[str, str]) -> None:
        """Store per-file hashes plus size/mtime, so later cheap checks need no rehash."""
        root = self._final(entry)
        files = {}
        for rel, digest in hashes.items():
            st = (root / rel if entry.format == "hf-folder" else root).stat()
            files[rel] = {"sha256": digest, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        lock = self._lock()
        lock[entry.name] = {"files": files, "recorded": time.strftime("%Y-%m-%dT%H:%M:%S")}
        self._write_lock(lock)

    def _recorded_hashes(self, entry: ModelEntry) -> dict[str, dict[str, object]]:
        rec = self._lock().get(entry.name, {})
        files = rec.get("files", {}) if isinstance(rec, dict) else {}
        return files if isinstance(files, dict) else {}

    def _recorded_ok(self, entry: ModelEntry) -> bool:
        """True when the installed files still match the size/mtime recorded at last verification."""
        root = self._final(entry)
        recorded = self._recorded_hashes(entry)
        if not root.exists() or not recorded:
            return False
        for rel, info in recorded.items():
            path = root / rel if entry.format == "hf-folder" else root
            try:
                st = path.stat()
            except OSError:
                return False
            if not isinstance(info, dict) or (info.get("size"), info.get("mtime_ns")) != (
                st.st_size,
                st.st_mtime_ns,
            ):
                return False
            if entry.sha256 is not None and info.get("sha256") != entry.sha256:
                return False
        return True

    def is_verified(self, name: str) -> bool:
        """Installed and verified: the recorded state still matches, else a full `verify`."""
        entry = self.entry(name)
        if self.path(name) is None:
            return False
        return self._recorded_ok(entry) or self.verify(name)

    # ---- verification ---------------------------------------------------------------------------
    def _check(self, entry: ModelEntry, root: Path) -> tuple[dict[str, str], str | None]:
        """Hash the files under ``root``; return the hashes and a reason when they do not match."""
        recorded = self._recorded_hashes(entry)
        hashes: dict[str, str] = {}
        rels = (
            [entry.filename]
            if entry.format != "hf-folder"
            else sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        )
        for rel in rels:
            path = root if entry.format != "hf-folder" else root / rel
            hashes[rel] = file_digest(path)
            info = recorded.get(rel)
            expected = entry.sha256 if entry.format != "hf-folder" else None
            if expected is None and isinstance(info, dict):
                expected = str(info.get("sha256"))  # trust-on-first-use record
            if expected is not None and hashes[rel] != expected:
                return (
                    hashes,
                    f"{rel} does not match its {'published' if entry.sha256 else 'recorded'} checksum",
                )
            if entry.md5 is not None and entry.format != "hf-folder" and file_digest(path, "md5") != entry.md5:
                return hashes, f"{rel} does not match its published MD5"
        if entry.format == "hf-folder":
            missing = [f for f in entry.files if f not in hashes]
            if missing:
                return hashes, f"{', '.join(missing)} missing"
        return hashes, None

    def verify(self, name: str) -> bool:
        """Hash the installed weights and compare with the published or recorded checksums.

        Records the hashes (trust on first use) when there is nothing to compare against yet.
        """
        entry = self.entry(name)
        root = self.path(name)
        if root is None:
            return False
        hashes, problem = self._check(entry, root)
        if problem is None:
            self._record(entry, hashes)
        return problem is None

    def forget(self, name: str) -> None:
        """Drop the recorded hashes of ``name`` (trust on first use starts again on the next install)."""
        lock = self._lock()
        if lock.pop(self.entry(name).name, None) is not None:
            self._write_lock(lock)

    # ---- install --------------------------------------------------------------------------------
    def _finish(self, entry: ModelEntry, part: Path) -> None:
        """Verify ``part`` and move it into place; a mismatch deletes it and raises."""
        hashes, problem = self._check(entry, part)
        if problem is not None:
            shutil.rmtree(part) if part.is_dir() else part.unlink(missing_ok=True)
            raise ModelUnavailable(
                f"The weights for {entry.name} are corrupt ({problem}); the partial file was deleted, "
                f"try `celstudio models download {entry.name}` again."
            )
        final = self._final(entry)
        if final.is_dir():
            shutil.rmtree(final)
        os.replace(part, final)
        self._record(entry, hashes)

    def install_local(self, name: str, src_path: Path) -> Path:
        """Install weights the user already has (fully offline): copy, verify, move into place."""
        entry = self.entry(name)
        src = Path(src_path)
        if not src.exists():
            raise ModelUnavailable(f"{src} does not exist, so {name} cannot be installed from it.")
        self.weights_dir.mkdir(parents=True, exist_ok=True)
        part = self._part(entry)
        if part.is_dir():
            shutil.rmtree(part)
        if entry.format == "hf-folder":
            if not src.is_dir():
                raise ModelUnavailable(f"{name} is a folder of files; point at the folder, not {src}.")
            part.mkdir()
            for rel, _url, required in entry.file_urls():
                if (src / rel).is_file():
                    shutil.copyfile(src / rel, part / rel)
                elif required:
                    shutil.rmtree(part)
                    raise ModelUnavailable(f"{src} lacks {rel}, which {name} needs.")
        else:
            shutil.copyfile(src, part)
        self._finish(entry, part)
        return self._final(entry)

    def download(
        self,
        name: str,
        progress: ProgressCallback | None = None,
        cancel: CancelCallback | None = None,
    ) -> Path:
        """Download ``name`` (resuming any ``.part``), verify it, and move it into place.

        ``progress(done, total)`` is called as bytes arrive (``total`` is 0 while unknown); when
        ``cancel()`` returns True the download stops with `DownloadCancelled` and the ``.part`` stays.
        """
        entry = self.entry(name)
        final = self._final(entry)
        if final.exists() and self.is_verified(name):
            return final  # already installed and verified: nothing to fetch
        self.weights_dir.mkdir(parents=True, exist_ok=True)
        part = self._part(entry)
        if entry.format != "hf-folder":
            fetch(entry.url, part, progress, cancel, entry.name)
        else:
            part.mkdir(exist_ok=True)
            for rel, url, required in entry.file_urls():
                target = part / rel
                if target.exists() and not (part / (rel + ".part")).exists():
                    continue  # fetched completely in an earlier, interrupted run
                try:
                    fetch(url, part / (rel + ".part"), progress, cancel, f"{entry.name}/{rel}")
                except NotFound:
                    if required:
                        raise ModelUnavailable(
                            f"{url} was not found, so {name} cannot be downloaded."
                        ) from None
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(part / (rel + ".part"), target)
        self._finish(entry, part)
        return self._final(entry)
