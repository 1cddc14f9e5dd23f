"""``index.db``: per-frame versions, meta, records and vectors in SQLite.

HDF5 is not crash-safe for small metadata updates (a kill mid-write can corrupt its heaps), while
SQLite in WAL mode is. So ``layers.h5`` holds only the big per-frame arrays and this file says which
of them were written, by what, and from which inputs. A version is committed here only after its
array was flushed to ``layers.h5``, so a kill never leaves a version pointing at data that is not there.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import numpy as np

from app.errors import ProjectDamaged, ProjectReadOnly, is_disk_full
from app.store.h5 import disk_full

SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (layer TEXT, frame INTEGER, version INTEGER, meta TEXT, crc INTEGER, PRIMARY KEY (layer, frame));
CREATE TABLE IF NOT EXISTS records (name TEXT, frame INTEGER, body TEXT, PRIMARY KEY (name, frame));
CREATE TABLE IF NOT EXISTS vectors (name TEXT, frame INTEGER, data BLOB, PRIMARY KEY (name, frame));
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS present (layer TEXT, frame INTEGER, version INTEGER, crc INTEGER, ids TEXT, PRIMARY KEY (layer, frame));
"""


class FrameIndex:
    """Thread-safe access to ``index.db``."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self.lock = threading.RLock()
        try:
            if read_only:
                self.db = _connect_read_only(path)
            else:
                self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.executescript(SCHEMA)
            columns = {row[1] for row in self.db.execute("PRAGMA table_info(versions)").fetchall()}
            if "crc" not in columns and not read_only:
                # Indexes made before checksums gain the column; their old rows simply have none.
                self.db.execute("ALTER TABLE versions ADD COLUMN crc INTEGER")
                columns.add("crc")
            self.has_crc = "crc" in columns
            # Which ids a label map holds (`app.store.layers.LayerStore.present`); a read-only open of an
            # index made before it has no such table and works the lists out from the maps.
            self.has_present = bool(self.db.execute(
                "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='present'").fetchone()[0])
        except sqlite3.DatabaseError as exc:
            raise ProjectDamaged(f"The project index {path.name} is damaged ({exc}).") from exc

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.lock:
            if self.read_only and not sql.startswith("SELECT"):
                raise ProjectReadOnly(f"{self.path.name} is open read-only; it cannot be changed.")
            try:
                return self.db.execute(sql, args).fetchall()
            except sqlite3.DatabaseError as exc:
                if is_disk_full(exc) or "database or disk is full" in str(exc):
                    raise disk_full(self.path.parent, 1 << 20) from exc
                raise ProjectDamaged(f"The project index {self.path.name} is damaged ({exc}).") from exc

    def forget(self, layer: str, frame: int, record: str) -> None:
        """Drop ``layer``'s version of ``frame`` and the record ``record`` of that frame."""
        with self.lock:
            self._query("DELETE FROM versions WHERE layer=? AND frame=?", (layer, frame))
            self._query("DELETE FROM records WHERE name=? AND frame=?", (record, frame))
            if self.has_present:
                self._query("DELETE FROM present WHERE layer=? AND frame=?", (layer, frame))

    # -- versions and meta --------------------------------------------------------------------------
    def bump(self, layer: str, frame: int, meta: dict[str, Any], crc: int | None = None) -> int:
        """A new version of ``layer`` at ``frame``, with the CRC-32 of its bytes in the same row (one
        atomic write: a version never points at another version's checksum)."""
        with self.lock:
            version = self.version(layer, frame) + 1
            self._query(
                "INSERT OR REPLACE INTO versions (layer, frame, version, meta, crc) VALUES (?, ?, ?, ?, ?)",
                (layer, frame, version, json.dumps(meta, sort_keys=True, default=str), crc),
            )
            return version

    def version_crc(self, layer: str, frame: int) -> tuple[int, int | None]:
        """The frame's version and the checksum written with it (None for rows made before checksums)."""
        if not self.has_crc:
            return self.version(layer, frame), None
        rows = self._query("SELECT version, crc FROM versions WHERE layer=? AND frame=?", (layer, frame))
        if not rows:
            return 0, None
        return int(rows[0][0]), None if rows[0][1] is None else int(rows[0][1])

    def version(self, layer: str, frame: int) -> int:
        rows = self._query("SELECT version FROM versions WHERE layer=? AND frame=?", (layer, frame))
        return int(rows[0][0]) if rows else 0

    def versions(self, layer: str, frame_count: int) -> np.ndarray:
        out = np.zeros(frame_count, np.int64)
        for frame, version in self._query("SELECT frame, version FROM versions WHERE layer=?", (layer,)):
            if 0 <= frame < frame_count:
                out[frame] = version
        return out

    def meta(self, layer: str, frame: int) -> dict[str, Any]:
        rows = self._query("SELECT meta FROM versions WHERE layer=? AND frame=?", (layer, frame))
        return dict(json.loads(rows[0][0])) if rows and rows[0][0] else {}

    def all_meta(self, layer: str) -> dict[int, dict[str, Any]]:
        rows = self._query("SELECT frame, meta FROM versions WHERE layer=?", (layer,))
        return {int(f): dict(json.loads(m)) for f, m in rows if m}

    def all_version_crcs(self, layer: str) -> dict[int, tuple[int, int | None]]:
        """Every written frame's version and checksum at once."""
        if not self.has_crc:
            return {int(f): (int(v), None) for f, v in self._query("SELECT frame, version FROM versions WHERE layer=?", (layer,))}
        rows = self._query("SELECT frame, version, crc FROM versions WHERE layer=?", (layer,))
        return {int(f): (int(v), None if c is None else int(c)) for f, v, c in rows}

    # -- which ids each label map holds ---------------------------------------------------------------
    def put_present(self, layer: str, frame: int, version: int, crc: int | None, counts: dict[int, int]) -> None:
        """``counts`` (id -> pixels, 0 left out) of the label map ``version`` (checksum ``crc``) of ``frame``."""
        if self.has_present and not self.read_only:
            body = json.dumps({str(k): int(v) for k, v in sorted(counts.items())})
            self._query("INSERT OR REPLACE INTO present VALUES (?, ?, ?, ?, ?)", (layer, frame, version, crc, body))

    def present_row(self, layer: str, frame: int) -> tuple[int, int | None, str] | None:
        """One frame's stored row (`all_present`), None when there is none."""
        if not self.has_present:
            return None
        rows = self._query("SELECT version, crc, ids FROM present WHERE layer=? AND frame=?", (layer, frame))
        if not rows:
            return None
        v, c, b = rows[0]
        return int(v), None if c is None else int(c), str(b)

    def all_present(self, layer: str) -> dict[int, tuple[int, int | None, str]]:
        """Every stored row: frame -> (version, crc, the counts as stored, unparsed)."""
        if not self.has_present:
            return {}
        rows = self._query("SELECT frame, version, crc, ids FROM present WHERE layer=?", (layer,))
        return {int(f): (int(v), None if c is None else int(c), str(b)) for f, v, c, b in rows}

    # -- records and vectors ------------------------------------------------------------------------
    def put_record(self, name: str, frame: int, record: dict[str, Any]) -> None:
        self._query("INSERT OR REPLACE INTO records VALUES (?, ?, ?)", (name, frame, json.dumps(record, sort_keys=True, default=str)))

    def record(self, name: str, frame: int) -> dict[str, Any] | None:
        rows = self._query("SELECT body FROM records WHERE name=? AND frame=?", (name, frame))
        return dict(json.loads(rows[0][0])) if rows else None

    def records(self, name: str) -> dict[int, dict[str, Any]]:
        return {int(f): dict(json.loads(b)) for f, b in self._query("SELECT frame, body FROM records WHERE name=?", (name,))}

    def put_vector(self, name: str, frame: int, vec: np.ndarray) -> None:
        self._query("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", (name, frame, np.asarray(vec, np.float32).tobytes()))

    def vector(self, name: str, frame: int) -> np.ndarray | None:
        rows = self._query("SELECT data FROM vectors WHERE name=? AND frame=?", (name, frame))
        return np.frombuffer(rows[0][0], np.float32).copy() if rows else None

    # -- key/value ------------------------------------------------------------------------------------
    def get(self, key: str, default: str = "") -> str:
        rows = self._query("SELECT value FROM kv WHERE key=?", (key,))
        return str(rows[0][0]) if rows else default

    def set(self, key: str, value: str) -> None:
        self._query("INSERT OR REPLACE INTO kv VALUES (?, ?)", (key, value))

    def close(self) -> None:
        with self.lock:
            self.db.close()


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that never writes: ``mode=ro`` beside a live writer (WAL readers are safe), or
    ``immutable=1`` in a folder nobody may write (WAL needs a writable ``-shm`` otherwise). A missing
    file reads as an empty index."""
    if not path.exists():
        db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        db.executescript(SCHEMA)
        return db
    flag = "mode=ro" if os.access(path.parent, os.W_OK) else "immutable=1"
    db = sqlite3.connect(f"{path.resolve().as_uri()}?{flag}", uri=True, check_same_thread=False, isolation_level=None)
    db.execute("SELECT count(*) FROM sqlite_master").fetchall()
    return db
