"""The journal's record format: encoding a `JournalEntry` as bytes and finding every readable
record in a journal's bytes, damaged or not.

Record formats (both are read; only version 2 is written):

- version 1: ``[u32 length][u32 crc32][JSON payload]``.
- version 2: ``MARKER [u32 length][u32 crc32(payload)][u32 crc32(header)][JSON payload]``. The
  marker holds a byte (0xff) that never occurs in the ASCII-only JSON payload, so after a damaged
  record the reader finds the next record by searching for the marker (a resync), and every record
  after the damage survives. Version-1 records resync on their payload's fixed opening ``{"seq":``.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from dataclasses import dataclass

from app.store.edits import JournalEntry, MaskEdit, decode_labels

_HEADER = struct.Struct("<II")  # version 1: length, crc32(payload)
MARKER = b"\xffCJ\x02"  # version 2 (the last byte); 0xff never occurs in ASCII JSON
_HEADER2 = struct.Struct("<4sIII")  # marker, length, crc32(payload), crc32(first 12 header bytes)
_V1_OPENING = b'{"seq":'
_MAX_RECORD = 1 << 30


@dataclass(frozen=True)
class DamagedSpan:
    """Bytes ``[start, end)`` of the journal that hold no readable record."""

    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start


def _encode_labels(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _decode_labels(text: str) -> bytes:
    """The packed bytes of a journalled label map, checked to decode (a damaged record fails here)."""
    data = base64.b64decode(text)
    decode_labels(data)
    return data


def _entry_to_json(entry: JournalEntry) -> bytes:
    return json.dumps(
        {
            "seq": entry.seq,
            "kind": entry.kind,
            "time": entry.time,
            "payload": entry.payload,
            "edits": [
                {
                    "frame": e.frame,
                    "object_id": e.object_id,
                    "source": e.source,
                    "before_source": e.before_source,
                    "before": _encode_labels(e.before_png),
                    "after": _encode_labels(e.after_png),
                }
                for e in entry.edits
            ],
        },
        separators=(",", ":"),
    ).encode("utf-8")


def _entry_from_json(data: bytes) -> JournalEntry:
    obj = json.loads(data)
    return JournalEntry(
        seq=int(obj["seq"]),
        kind=str(obj["kind"]),
        time=float(obj.get("time", 0.0)),
        payload=dict(obj.get("payload", {})),
        edits=[
            MaskEdit(
                frame=int(e["frame"]),
                object_id=int(e.get("object_id", 0)),
                source=str(e.get("source", "user")),
                before_source=str(e.get("before_source", "pipeline")),
                before=_decode_labels(e["before"]),
                after=_decode_labels(e["after"]),
            )
            for e in obj.get("edits", [])
        ],
    )


def encode_record(entry: JournalEntry) -> bytes:
    """A version-2 record: marker, length, payload CRC, header CRC, payload."""
    body = _entry_to_json(entry)
    head = struct.pack("<4sII", MARKER, len(body), zlib.crc32(body))
    return head + struct.pack("<I", zlib.crc32(head)) + body


def encode_record_v1(entry: JournalEntry) -> bytes:
    """A version-1 record, as journals written before version 2 hold them (tests of old journals)."""
    body = _entry_to_json(entry)
    return _HEADER.pack(len(body), zlib.crc32(body)) + body


def _read_at(raw: bytes, pos: int) -> tuple[int, JournalEntry] | None:
    """The record starting at ``pos`` (either version) and where it ends, or None if unreadable."""
    if raw.startswith(MARKER, pos):
        if pos + _HEADER2.size > len(raw):
            return None
        _, length, crc, head_crc = _HEADER2.unpack_from(raw, pos)
        if zlib.crc32(raw[pos : pos + 12]) != head_crc:
            return None
        start = pos + _HEADER2.size
    else:
        if pos + _HEADER.size > len(raw):
            return None
        length, crc = _HEADER.unpack_from(raw, pos)
        start = pos + _HEADER.size
        if not raw.startswith(_V1_OPENING, start):
            return None
    end = start + length
    if length > _MAX_RECORD or end > len(raw):
        return None
    body = raw[start:end]
    if zlib.crc32(body) != crc:
        return None
    try:
        return end, _entry_from_json(body)
    except (ValueError, KeyError, TypeError):
        return None


def _next_candidate(raw: bytes, pos: int) -> int:
    """The next offset after ``pos`` where a record of either version may start (len(raw) if none)."""
    found = []
    marker = raw.find(MARKER, pos + 1)
    if marker >= 0:
        found.append(marker)
    v1 = raw.find(_V1_OPENING, pos + 1 + _HEADER.size)
    if v1 >= 0:
        found.append(v1 - _HEADER.size)
    return min(found) if found else len(raw)


def scan(raw: bytes) -> tuple[list[JournalEntry], list[DamagedSpan], bool]:
    """Every readable record in ``raw``, the damaged spans between them, and whether the last span
    is a tail (no readable record after it)."""
    entries: list[JournalEntry] = []
    damaged: list[DamagedSpan] = []
    seen: set[int] = set()
    pos = 0
    bad_from: int | None = None
    while pos < len(raw):
        got = _read_at(raw, pos)
        if got is None:
            if bad_from is None:
                bad_from = pos
            pos = _next_candidate(raw, pos)
            continue
        if bad_from is not None:
            damaged.append(DamagedSpan(bad_from, pos))
            bad_from = None
        end, entry = got
        if entry.seq not in seen:  # a record found twice would replay twice
            seen.add(entry.seq)
            entries.append(entry)
        pos = end
    tail = bad_from is not None
    if bad_from is not None:
        damaged.append(DamagedSpan(bad_from, len(raw)))
    return entries, damaged, tail

