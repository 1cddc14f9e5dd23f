"""A digest of everything the pipeline wrote to a project: layer arrays, versions, meta, records, vectors.

Two projects with equal digests hold the same results byte for byte (the HDF5 container itself may lay
chunks out in another order; its contents are what count). Used to check that a batch equals
`celstudio run`.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from app.store import Project
from app.store.layers import INDEX_FILE


def project_digest(root: Path) -> dict[str, str]:
    """``{"layer/<name>/<frame>": sha256 of version, meta and array, "record/...": ..., "vector/...": ...}``."""
    root = Path(root)
    out: dict[str, str] = {}
    db = sqlite3.connect(f"file:{root / INDEX_FILE}?mode=ro", uri=True)
    try:
        versions = db.execute("SELECT layer, frame, version, meta FROM versions ORDER BY layer, frame").fetchall()
        records = db.execute("SELECT name, frame, body FROM records ORDER BY name, frame").fetchall()
        vectors = db.execute("SELECT name, frame, data FROM vectors ORDER BY name, frame").fetchall()
    finally:
        db.close()
    with Project.open(root) as project:
        for layer, frame, version, meta in versions:
            data = project.layers.read(layer, frame)
            h = hashlib.sha256(f"{version}|{meta}".encode())
            if data is not None:
                h.update(repr((data.shape, str(data.dtype))).encode())
                h.update(data.tobytes())
            out[f"layer/{layer}/{frame}"] = h.hexdigest()
    for name, frame, body in records:
        out[f"record/{name}/{frame}"] = hashlib.sha256(body.encode()).hexdigest()
    for name, frame, data in vectors:
        out[f"vector/{name}/{frame}"] = hashlib.sha256(bytes(data)).hexdigest()
    return out


def digest_differences(a: dict[str, str], b: dict[str, str], limit: int = 10) -> list[str]:
    """Keys that differ between two digests (missing on either side or unequal), at most ``limit``."""
    keys = sorted(set(a) | set(b))
    return [k for k in keys if a.get(k) != b.get(k)][:limit]
