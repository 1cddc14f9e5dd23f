"""ModelManager against a local HTTP server: progress, resume after a cut, checksums, cancel, verify."""

from __future__ import annotations

import hashlib
import io
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.errors import ModelUnavailable
from models import manager_cli
from models.catalog import ModelEntry
from models.download import DownloadCancelled
from models.manager import ModelManager

BLOB = random.Random(7).randbytes(2_500_000)
BLOB_SHA = hashlib.sha256(BLOB).hexdigest()


@dataclass
class ServerState:
    files: dict[str, bytes]
    cut_once: set[str] = field(default_factory=set)  # paths whose first body is cut halfway
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)


def _handler(state: ServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            rng = self.headers.get("Range")
            state.requests.append((path, rng))
            body = state.files.get(path)
            if body is None:
                self.send_error(404)
                return
            start = 0
            if rng:
                start = int(rng.removeprefix("bytes=").split("-")[0])
                if start >= len(body):
                    self.send_error(416)
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            chunk = body[start:]
            self.send_header("Content-Length", str(len(chunk)))
            self.end_headers()
            if path in state.cut_once:
                state.cut_once.discard(path)
                self.wfile.write(chunk[: len(chunk) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(chunk)

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, ServerState]]:
    state = ServerState(
        files={
            "/w/model.pth": BLOB,
            "/repo/resolve/main/config.json": b'{"a": 1}',
            "/repo/resolve/main/model.safetensors": BLOB[:300_000],
        }
    )
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    httpd.shutdown()
    httpd.server_close()


def _entry(base: str, sha256: str | None = BLOB_SHA, **kw: object) -> ModelEntry:
    entry = ModelEntry(
        name="tiny",
        role="clicker",
        backend="sam",
        url=f"{base}/w/model.pth",
        size=len(BLOB),
        sha256=sha256,
        license="test",
        format="pth",
        filename="tiny.pth",
    )
    return replace(entry, **kw)  # type: ignore[arg-type]


def test_progress_rises_to_total_and_file_is_exact(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, _ = server
    mgr = ModelManager(tmp_path, catalog=(_entry(base),))
    seen: list[tuple[int, int]] = []
    path = mgr.download("tiny", progress=lambda d, t: seen.append((d, t)))
    assert path == tmp_path / "tiny.pth" and path.read_bytes() == BLOB
    dones = [d for d, _ in seen]
    assert dones == sorted(dones) and seen[-1] == (len(BLOB), len(BLOB))
    assert not (tmp_path / "tiny.pth.part").exists()
    assert mgr.path("tiny") == path and mgr.is_verified("tiny")
    assert [r.installed and r.verified for r in mgr.list()] == [True]


def test_cut_connection_resumes_with_range(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, state = server
    state.cut_once.add("/w/model.pth")
    mgr = ModelManager(tmp_path, catalog=(_entry(base),))
    path = mgr.download("tiny")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == BLOB_SHA
    ranges = [r for p, r in state.requests if p == "/w/model.pth"]
    assert ranges[0] is None and ranges[1] == f"bytes={len(BLOB) // 2}-"


def test_checksum_mismatch_leaves_nothing(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, _ = server
    mgr = ModelManager(tmp_path, catalog=(_entry(base, sha256="0" * 64),))
    with pytest.raises(ModelUnavailable, match="corrupt"):
        mgr.download("tiny")
    assert not (tmp_path / "tiny.pth").exists() and not (tmp_path / "tiny.pth.part").exists()
    assert mgr.path("tiny") is None


def test_published_md5_is_checked(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, _ = server
    bad = ModelManager(tmp_path / "a", catalog=(_entry(base, sha256=None, md5="f" * 32),))
    with pytest.raises(ModelUnavailable, match="MD5"):
        bad.download("tiny")
    good_md5 = hashlib.md5(BLOB).hexdigest()
    good = ModelManager(tmp_path / "b", catalog=(_entry(base, sha256=None, md5=good_md5),))
    assert good.download("tiny").read_bytes() == BLOB


def test_cancel_keeps_only_part_then_resumes(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, state = server
    mgr = ModelManager(tmp_path, catalog=(_entry(base),))
    with pytest.raises(DownloadCancelled):
        mgr.download("tiny", cancel=lambda: True)
    part = tmp_path / "tiny.pth.part"
    assert not (tmp_path / "tiny.pth").exists()
    assert part.exists() and 0 < part.stat().st_size < len(BLOB)
    kept = part.stat().st_size
    assert mgr.download("tiny").read_bytes() == BLOB
    assert state.requests[-1] == ("/w/model.pth", f"bytes={kept}-")


def test_verify_detects_corruption_trust_on_first_use(
    server: tuple[str, ServerState], tmp_path: Path
) -> None:
    base, state = server
    mgr = ModelManager(tmp_path, catalog=(_entry(base, sha256=None),))
    path = mgr.download("tiny")
    assert mgr.verify("tiny")  # compares with the hash recorded by the download
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF
    path.write_bytes(bytes(data))
    assert not mgr.verify("tiny")
    assert not mgr.is_verified("tiny") and not mgr.list()[0].verified
    assert mgr.download("tiny").read_bytes() == BLOB  # a fresh copy replaces the corrupt one
    state.files["/w/model.pth"] = BLOB[::-1]  # upstream now serves other bytes under the same name
    path.unlink()
    with pytest.raises(ModelUnavailable, match="recorded checksum"):
        mgr.download("tiny")  # checked against the first-use record
    assert mgr.path("tiny") is None
    mgr.forget("tiny")
    assert mgr.download("tiny").read_bytes() == BLOB[::-1] and mgr.verify("tiny")


def test_hf_folder_downloads_each_file(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, _ = server
    entry = ModelEntry(
        name="repo",
        role="annotator",
        backend="clip",
        url=f"{base}/repo",
        size=None,
        sha256=None,
        license="test",
        format="hf-folder",
        filename="repo",
        files=("config.json", "model.safetensors"),
        optional_files=("tokenizer.json",),
    )
    mgr = ModelManager(tmp_path, catalog=(entry,))
    folder = mgr.download("repo")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    assert (folder / "model.safetensors").read_bytes() == BLOB[:300_000]
    assert mgr.verify("repo")
    (folder / "config.json").write_text('{"a": 2}')
    assert not mgr.verify("repo")
    missing = replace(entry, files=("config.json", "absent.bin"))
    with pytest.raises(ModelUnavailable, match="not found"):
        ModelManager(tmp_path / "x", catalog=(missing,)).download("repo")


def test_install_local_offline(tmp_path: Path) -> None:
    src = tmp_path / "mine.pth"
    src.write_bytes(BLOB)
    entry = _entry("http://127.0.0.1:9")  # never contacted
    mgr = ModelManager(tmp_path / "w", catalog=(entry,))
    assert mgr.install_local("tiny", src).read_bytes() == BLOB and mgr.is_verified("tiny")
    other = ModelManager(tmp_path / "w2", catalog=(replace(entry, sha256="1" * 64),))
    with pytest.raises(ModelUnavailable):
        other.install_local("tiny", src)
    assert other.path("tiny") is None and not (tmp_path / "w2" / "tiny.pth.part").exists()


def test_weights_dir_env_and_explicit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CELSTUDIO_WEIGHTS", str(tmp_path / "env"))
    assert ModelManager().weights_dir == tmp_path / "env"
    assert ModelManager(tmp_path / "explicit").weights_dir == tmp_path / "explicit"
    monkeypatch.delenv("CELSTUDIO_WEIGHTS")
    assert ModelManager().weights_dir.parts[-2:] == ("celstudio", "weights")


def test_unknown_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="no model named 'nope'"):
        ModelManager(tmp_path).download("nope")


def test_cli_commands(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, state = server
    mgr = ModelManager(tmp_path, catalog=(_entry(base),))
    out = io.StringIO()
    assert manager_cli.run_models_command(["list"], mgr, out) == 0
    assert "tiny" in out.getvalue() and "INSTALLED" in out.getvalue()
    out = io.StringIO()
    assert manager_cli.run_models_command(["download", "tiny"], mgr, out) == 0
    assert "\rtiny [" in out.getvalue() and "100.0%" in out.getvalue()
    requests = len(state.requests)
    assert manager_cli.run_models_command(["download", "tiny"], mgr, io.StringIO()) == 0
    assert len(state.requests) == requests  # installed and verified: nothing fetched again
    out = io.StringIO()
    assert manager_cli.run_models_command(["verify"], mgr, out) == 0 and "tiny: ok" in out.getvalue()
    out = io.StringIO()
    assert manager_cli.run_models_command(["path", "tiny"], mgr, out) == 0
    assert out.getvalue().strip() == str(tmp_path / "tiny.pth")
    out = io.StringIO()
    assert manager_cli.run_models_command(["download", "nope"], mgr, out) == 1 and "error:" in out.getvalue()
    assert manager_cli.run_models_command(["frobnicate"], mgr, io.StringIO()) == 2
    assert manager_cli.progress_bar("x", 5, 10, width=10) == "x [#####.....]  50.0% 5 B/10 B"
