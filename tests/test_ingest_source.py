"""Frame sources: exact random access for video, image folders, clean errors for bad input."""

from __future__ import annotations

import random
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from app.errors import InputError
from app.sources.source import (
    ImageFolderSource,
    VideoFrameSource,
    VideoIndex,
    content_hash,
    natural_key,
    open_source,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
ONEPIECE = SHARED / "data" / "anime" / "clips" / "onepiece_demo.mp4"


def _frame_image(i: int, w: int = 96, h: int = 64) -> np.ndarray:
    """A frame whose content depends on i everywhere (a moving gradient and a moving block)."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = (xx * 2 + i * 7) % 256
    img[..., 1] = (yy * 3 + i * 13) % 256
    img[..., 2] = (i * 29) % 256
    x0 = (i * 5) % (w - 16)
    img[10:26, x0 : x0 + 16] = 255
    return img


def make_video(
    path: Path,
    n: int,
    codec: str = "libx264",
    *,
    gop: int = 6,
    pts_ms: Sequence[int] | None = None,
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Encode n synthetic frames; pts_ms gives a variable frame rate in milliseconds."""
    with av.open(str(path), mode="w", options=container_options or {}) as out:
        stream: Any = out.add_stream(codec, rate=25)
        stream.width, stream.height = 96, 64
        stream.pix_fmt = "yuv420p"
        stream.gop_size = gop
        if options:
            stream.options = options
        if pts_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(_frame_image(i), format="rgb24")
            if pts_ms is not None:
                frame.pts = int(pts_ms[i])
                frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _assert_random_access_exact(path: Path, samples: int = 60) -> VideoFrameSource:
    src = open_source(path)
    assert isinstance(src, VideoFrameSource)
    seq = list(open_source(path))
    assert len(seq) == src.frame_count
    rng = random.Random(1)
    order = [rng.randrange(src.frame_count) for _ in range(samples)]
    order += [src.frame_count - 1, 0, 1, src.frame_count // 2]
    for i in order:
        got = src.get(i)
        assert got.dtype == np.uint8 and got.shape == (src.height, src.width, 3)
        assert np.array_equal(got, seq[i]), f"frame {i} of {path.name} differs from sequential decode"
    return src


CODECS = [
    ("libx264", "mp4", {"bf": "2"}),
    ("libx264", "mkv", {"bf": "3"}),
    ("libvpx-vp9", "webm", {"deadline": "realtime", "cpu-used": "8"}),
    ("mpeg4", "avi", {}),
    ("libx265", "mov", {"preset": "ultrafast", "x265-params": "log-level=none"}),
]


@pytest.mark.parametrize(("codec", "ext", "options"), CODECS, ids=[f"{c}-{e}" for c, e, _ in CODECS])
def test_random_access_matches_sequential(tmp_path: Path, codec: str, ext: str, options: dict[str, str]) -> None:
    if codec not in av.codecs_available:
        pytest.skip(f"{codec} encoder not available in this PyAV build")
    path = make_video(tmp_path / f"clip.{ext}", 40, codec, gop=7, options=options)
    src = _assert_random_access_exact(path)
    assert src.frame_count == 40
    assert (src.width, src.height) == (96, 64)
    # The decoded content really is the frame we asked for (not merely self-consistent).
    for i in (0, 17, 39):
        expected = _frame_image(i).astype(int)
        assert np.abs(src.get(i).astype(int) - expected).mean() < 20


def test_variable_frame_rate(tmp_path: Path) -> None:
    steps = [40, 40, 80, 20, 120, 40, 33, 47] * 5
    pts = np.concatenate([[0], np.cumsum(steps)])[:40].tolist()
    path = make_video(tmp_path / "vfr.mp4", 40, gop=5, pts_ms=pts, options={"bf": "2"})
    src = _assert_random_access_exact(path)
    times = src.index.pts * src.index.time_base
    assert np.allclose(np.asarray(times, dtype=float), np.asarray(pts) / 1000.0, atol=1e-3)
    assert abs(src.get(23).astype(int) - _frame_image(23).astype(int)).mean() < 20


def test_index_roundtrip_avoids_rescan(tmp_path: Path) -> None:
    path = make_video(tmp_path / "a.mp4", 30, gop=4)
    src = open_source(path)
    assert isinstance(src, VideoFrameSource)
    assert src.gop == 4
    arrays = src.index.to_arrays()
    assert set(arrays) == set(VideoIndex.ARRAY_NAMES)
    index = VideoIndex.from_arrays(arrays)
    assert np.array_equal(index.pts, src.index.pts)
    assert np.array_equal(index.keyframe, src.index.keyframe)
    assert index.time_base == src.index.time_base
    reopened = open_source(path, index=index)
    assert np.array_equal(reopened.get(29), src.get(29))
    with pytest.raises(InputError):
        VideoIndex.from_arrays({"pts": arrays["pts"]})


def test_lru_cache_is_bounded_and_returns_copies(tmp_path: Path) -> None:
    src = open_source(make_video(tmp_path / "c.mp4", 20), cache_frames=3)
    first = src.get(5)
    first[:] = 0  # mutating a returned frame must not poison the cache
    assert src.get(5).any()
    for i in range(10):
        src.get(i)
    assert len(src._cache) == 3  # type: ignore[attr-defined]
    src.close()


@pytest.mark.skipif(not ONEPIECE.exists(), reason=f"shared data absent: {ONEPIECE}")
def test_onepiece_200_random_frames_exact() -> None:
    seq = list(open_source(ONEPIECE))
    src = open_source(ONEPIECE, cache_frames=0)
    assert src.frame_count == len(seq) == 181
    rng = random.Random(0)
    for i in (rng.randrange(len(seq)) for _ in range(200)):
        assert np.array_equal(src.get(i), seq[i]), f"frame {i} differs"


def test_bad_inputs_raise_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        open_source(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError):
        open_source(junk)
    empty = tmp_path / "empty.mkv"
    empty.write_bytes(b"")
    with pytest.raises(InputError):
        open_source(empty)
    good = make_video(tmp_path / "good.mp4", 30)
    data = good.read_bytes()
    for name, cut in (("head.mp4", len(data) // 2), ("tail.mp4", len(data) - 300)):
        bad = tmp_path / name
        bad.write_bytes(data[:cut])
        with pytest.raises(InputError):
            src = open_source(bad)
            list(src)
    # moov up front: the container promises 30 frames, the cut file holds fewer.
    fast = make_video(tmp_path / "fast.mp4", 30, container_options={"movflags": "faststart"})
    data = fast.read_bytes()
    for frac in (0.5, 0.99):
        bad = tmp_path / "fastcut.mp4"
        bad.write_bytes(data[: int(len(data) * frac)])
        with pytest.raises(InputError, match="truncated"):
            open_source(bad)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(InputError):
        open_source(text)


@pytest.mark.parametrize(("codec", "ext"), [("libx264", "mkv"), ("libvpx-vp9", "webm")])
@pytest.mark.parametrize("frac", [0.5, 0.67])
def test_truncated_mkv_and_webm_are_refused(tmp_path: Path, codec: str, ext: str, frac: float) -> None:
    """Matroska keeps no frame count, but its declared duration survives the cut: 30 frames declared, fewer held."""
    good = make_video(tmp_path / f"good.{ext}", 30, codec)
    assert len(list(open_source(good))) == 30  # the whole file is fine
    bad = tmp_path / f"cut.{ext}"
    bad.write_bytes(good.read_bytes()[: int(good.stat().st_size * frac)])
    with pytest.raises(InputError, match=r"truncated: it declares 1\.20 s"):
        list(open_source(bad))


def make_resizing_video(path: Path, sizes: Sequence[tuple[int, int]], n: int = 15) -> Path:
    """An H.264 stream whose picture size changes mid-stream: raw segments joined, remuxed into ``path``."""
    import io

    raw = b""
    for w, h in sizes:
        buf = io.BytesIO()
        with av.open(buf, mode="w", format="h264") as out:
            stream: Any = out.add_stream("libx264", rate=24)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.options = {"bf": "0"}  # decode order = presentation order, so pts = packet number
            for i in range(n):
                frame = av.VideoFrame.from_ndarray(_frame_image(i, w, h), format="rgb24")
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        raw += buf.getvalue()
    inp: Any = av.open(io.BytesIO(raw), format="h264")
    with inp, av.open(str(path), mode="w") as out:
        src = inp.streams.video[0]
        dst: Any = out.add_stream_from_template(src)
        dst.time_base = Fraction(1, 24)
        k = 0
        for packet in inp.demux(src):
            if packet.size == 0:
                continue
            packet.stream = dst
            packet.time_base = Fraction(1, 24)
            packet.pts = packet.dts = k
            packet.duration = 1
            k += 1
            out.mux(packet)
    return path


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_resolution_change_mid_stream_is_refused(tmp_path: Path, ext: str) -> None:
    video = make_resizing_video(tmp_path / f"resize.{ext}", [(96, 64), (64, 48)])
    src = open_source(video)
    assert (src.width, src.height) == (96, 64)
    with pytest.raises(InputError, match=r"changes its picture size at frame 15 \(from 96x64 to 64x48\)"):
        list(src)
    with pytest.raises(InputError, match="changes its picture size at frame 20"):
        open_source(video).get(20)  # random access checks too
    same = make_resizing_video(tmp_path / f"same.{ext}", [(96, 64), (96, 64)])
    assert [f.shape for f in open_source(same)] == [(64, 96, 3)] * 30


def _in_thread(fn: Any, *args: Any) -> BaseException | None:
    """Run ``fn`` in a daemon thread; the error it raised. Fails (instead of hanging the suite) if it blocks."""
    import threading

    result: list[BaseException | None] = []

    def work() -> None:
        try:
            fn(*args)
            result.append(None)
        except BaseException as exc:  # handed back to the test
            result.append(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(60)
    assert result, f"{fn.__name__}{args} blocked"
    return result[0]


def test_non_regular_sources_are_refused_before_opening(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    exc = _in_thread(open_source, fifo)
    assert isinstance(exc, InputError) and "FIFO" in str(exc)
    exc = _in_thread(open_source, Path("/dev/zero"))
    assert isinstance(exc, InputError) and "character device" in str(exc)
    loop = tmp_path / "loop.mp4"
    loop.symlink_to(tmp_path / "loop2.mp4")
    (tmp_path / "loop2.mp4").symlink_to(loop)
    with pytest.raises(InputError, match="loops back on itself"):
        open_source(loop)
    with pytest.raises(InputError, match="longer than the file system allows"):
        open_source(tmp_path / ("v" * 300 + ".mp4"))
    # A link to a real video is fine, and a FIFO inside an image folder is skipped, not opened.
    good = make_video(tmp_path / "good.mp4", 4)
    (tmp_path / "link.mp4").symlink_to(good)
    assert open_source(tmp_path / "link.mp4").frame_count == 4
    folder = tmp_path / "frames"
    folder.mkdir()
    Image.fromarray(_frame_image(0)).save(folder / "a.png")
    os.mkfifo(folder / "b.png")
    exc = _in_thread(lambda: len(open_source(folder)))
    assert exc is None


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` (one tiny IDAT): cheap to write, refused from its header alone."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [100_000, 12_000])
def test_huge_image_headers_give_one_clean_error(tmp_path: Path, side: int) -> None:
    import warnings

    folder = tmp_path / "frames"
    folder.mkdir()
    Image.fromarray(_frame_image(0)).save(folder / "a.png")
    (folder / "b.png").write_bytes(png_header(side, side))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(InputError, match=r"b\.png in .* (larger than Celstudio reads|far larger)"):
            open_source(folder)
    assert not [w for w in caught if "DecompressionBomb" in type(w.message).__name__]


def test_image_folder(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "f10.png")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "f2.png")  # grayscale
    rgba = np.dstack([rgb, np.full((12, 16), 7, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "f1.webp", lossless=True)
    g16 = (rgb[..., 1].astype(np.uint16) * 257)
    Image.fromarray(g16).save(tmp_path / "f3.png")  # 16-bit grayscale
    smooth = np.dstack(np.broadcast_arrays(*np.mgrid[0:12, 0:16] * 9, 80)).astype(np.uint8)
    Image.fromarray(smooth).save(tmp_path / "f4.jpg", quality=95)
    (tmp_path / "readme.txt").write_text("ignored")
    src = open_source(tmp_path)
    assert isinstance(src, ImageFolderSource)
    assert [f.name for f in src.files] == ["f1.webp", "f2.png", "f3.png", "f4.jpg", "f10.png"]
    assert (src.frame_count, src.width, src.height) == (5, 16, 12)
    frames = list(src)
    assert all(f.dtype == np.uint8 and f.shape == (12, 16, 3) for f in frames)
    assert np.array_equal(frames[0], rgb)
    assert np.array_equal(frames[1], np.repeat(rgb[..., :1], 3, axis=2))
    assert np.array_equal(frames[2], np.repeat(rgb[..., 1:2], 3, axis=2))
    assert np.abs(frames[3].astype(int) - smooth.astype(int)).mean() < 6
    assert np.array_equal(src.get(4), rgb) and np.array_equal(src.get(-1), rgb)
    with pytest.raises(IndexError):
        src.get(5)


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no png"):
        open_source(tmp_path)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((8, 9, 3), np.uint8)).save(tmp_path / "b.png")
    with pytest.raises(InputError, match="same size"):
        open_source(tmp_path)
    (tmp_path / "b.png").unlink()
    (tmp_path / "c.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match=r"c\.png"):
        open_source(tmp_path)


def test_natural_sort_and_content_hash(tmp_path: Path) -> None:
    assert sorted(["a10", "a2", "A1"], key=natural_key) == ["A1", "a2", "a10"]
    a = tmp_path / "a.bin"
    data = np.random.default_rng(0).integers(0, 256, 5 << 20, dtype=np.uint8).tobytes()
    a.write_bytes(data)
    h = content_hash(a)
    assert h == content_hash(a) and len(h) == 64
    a.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # last byte changed
    assert content_hash(a) != h
    a.write_bytes(data[: len(data) - 4096])  # truncated
    assert content_hash(a) != h
