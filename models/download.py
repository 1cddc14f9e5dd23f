"""Fetching one file over HTTP with resume and retries, and hashing files: the transport under
`models.manager`. A download is written to a ``.part`` file and resumed with a Range request when
the connection is cut; the caller verifies it and moves it into place. Never imports torch.
"""

from __future__ import annotations

import hashlib
import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from models.errors import CelstudioError, ModelUnavailable

ProgressCallback = Callable[[int, int], None]
CancelCallback = Callable[[], bool]

_CHUNK = 1 << 20
_RETRIES = 4
_TIMEOUT_S = 30.0


class DownloadCancelled(CelstudioError):
    """The user cancelled a download; the partial file stays for a later resume."""


class NotFound(Exception):
    """The server answered 404 (an optional file of a folder model may legitimately be absent)."""


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB blocks (weights run to gigabytes)."""
    # md5 only checks published checksums of downloads; it is no security measure.
    digest = hashlib.new(algorithm, usedforsecurity=algorithm != "md5")
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def fetch(
    url: str, part: Path, progress: ProgressCallback | None, cancel: CancelCallback | None, label: str
) -> None:
    """Fetch ``url`` into ``part``, resuming from its current length; retries cut connections."""
    part.parent.mkdir(parents=True, exist_ok=True)
    total = 0
    for attempt in range(_RETRIES + 1):
        have = part.stat().st_size if part.exists() else 0
        headers = {"User-Agent": "celstudio-model-manager/0.1"}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            with urllib.request.urlopen(
                urllib.request.Request(url, headers=headers), timeout=_TIMEOUT_S
            ) as resp:
                length = int(resp.headers.get("Content-Length") or 0)
                if have and resp.status == 206:
                    mode, done = "ab", have
                    # "bytes START-END/TOTAL"; fall back on the length when TOTAL is "*" or absent
                    whole = (resp.headers.get("Content-Range") or "").rpartition("/")[2]
                    total = int(whole) if whole.isdigit() else (have + length if length else 0)
                else:  # a full body: the server ignored (or we sent no) Range
                    mode, done, total = "wb", 0, length
                if progress is not None:
                    progress(done, total)
                with part.open(mode) as fh:
                    while block := resp.read(_CHUNK):
                        fh.write(block)  # kept even when cancelled: a later run resumes after it
                        done += len(block)
                        if progress is not None:
                            progress(done, total)
                        if cancel is not None and cancel() and (not total or done < total):
                            raise DownloadCancelled(
                                f"The download of {label} was cancelled; run it again to resume."
                            )
            if not total or done >= total:
                return
            # The body stopped short: the connection was cut; loop and resume with a Range request.
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:
                return  # the .part already holds the whole file; the checksum decides
            if exc.code == 404:
                raise NotFound(url) from None
            if attempt == _RETRIES or exc.code < 500:
                raise ModelUnavailable(
                    f"Downloading {label} failed: the server answered {exc.code}."
                ) from None
        except (OSError, http.client.HTTPException) as exc:  # URLError, reset, timeout, IncompleteRead
            if attempt == _RETRIES:
                raise ModelUnavailable(
                    f"Downloading {label} failed ({getattr(exc, 'reason', exc)}); run it again to resume."
                ) from None
        time.sleep(min(0.2 * (attempt + 1), 2.0))
    raise ModelUnavailable(f"Downloading {label} kept being cut off; run it again to resume.")
