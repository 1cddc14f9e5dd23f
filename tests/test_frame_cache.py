"""The one frame cache (`app.sources.cache.FrameCache`) and the layers that use it: the sources hand
out arrays the caller owns, a project hands out one shared read-only array per frame, decoded once."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from test_ingest_source import make_video

from app.ingest.importer import import_source
from app.pipeline.frames import ShotFrames
from app.sources.cache import FrameCache
from app.sources.source import open_source
from app.store import Project


def _frame(value: int) -> np.ndarray:
    return np.full((4, 6, 3), value, np.uint8)


def test_least_recently_used_frame_is_evicted_first() -> None:
    cache = FrameCache(3)
    for i in range(3):
        cache.put(i, _frame(i))
    assert cache.get(0) is not None  # 0 is now the most recently used: 1 goes first
    cache.put(3, _frame(3))
    assert 1 not in cache and [i in cache for i in (0, 2, 3)] == [True, True, True]
    assert len(cache) == 3
    got = cache.get(2)
    assert got is not None and int(got[0, 0, 0]) == 2


def test_a_byte_bound_evicts_the_oldest_frames_and_keeps_the_newest_whatever_its_size() -> None:
    one = _frame(0).nbytes  # 72 bytes
    cache = FrameCache(100, max_bytes=3 * one)
    for i in range(4):
        cache.put(i, _frame(i))
    assert 0 not in cache and [i in cache for i in (1, 2, 3)] == [True, True, True]
    cache.put(2, _frame(9))  # stored again: counted once
    assert len(cache) == 3
    big = np.zeros((40, 60, 3), np.uint8)  # alone over the bound
    cache.put("big", big)
    assert len(cache) == 1 and "big" in cache
    cache.clear()
    cache.put(5, _frame(5))
    cache.put(6, _frame(6))
    assert len(cache) == 2  # nothing of the cleared frames still counted


def test_stored_frames_are_read_only_and_capacity_zero_keeps_nothing() -> None:
    cache = FrameCache(2)
    stored = cache.put(7, _frame(1))
    with pytest.raises(ValueError, match="read-only"):
        stored[0, 0, 0] = 9
    empty = FrameCache(0)
    empty.put(1, _frame(1))
    assert len(empty) == 0 and empty.get(1) is None


def test_get_or_load_reuses_a_stored_frame_and_stays_bounded_across_threads() -> None:
    cache = FrameCache(4)
    loads: list[int] = []
    lock = threading.Lock()

    def load(i: int) -> np.ndarray:
        with lock:
            loads.append(i)
        return _frame(i)

    assert int(cache.get_or_load(5, load)[0, 0, 0]) == 5
    assert int(cache.get_or_load(5, load)[0, 0, 0]) == 5
    assert loads == [5]

    errors: list[BaseException] = []

    def hammer(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for i in rng.integers(0, 12, 400):
                assert int(cache.get_or_load(int(i), load)[0, 0, 0]) == i
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(cache) <= 4


def test_video_and_image_sources_hand_out_frames_the_caller_owns(tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(_frame(40 * i + 10)).save(folder / f"f{i}.png")
    for src in (open_source(make_video(tmp_path / "c.mp4", 8), cache_frames=4), open_source(folder, cache_frames=4)):
        first = src.get(1)
        first[:] = 0  # the caller's own array: writing into it leaves the cached frame alone
        again = src.get(1)
        assert again.flags.writeable and again.any()
        src.close()


def test_a_project_decodes_each_frame_once_into_one_shared_read_only_array(tmp_path: Path) -> None:
    video = make_video(tmp_path / "c.mp4", 12)
    decoded = list(open_source(video))
    import_source(video, tmp_path / "p").close()
    with Project.open(tmp_path / "p") as project:
        frame = project.frame(5)
        assert np.array_equal(frame, decoded[5])
        assert project.frame(5) is frame  # served from the cache, not decoded again
        with pytest.raises(ValueError, match="read-only"):
            frame[0, 0, 0] = 1  # a stage writing into its input would change every later read
        source = project.frames._source
        assert source is not None and len(source._cache) == 0  # type: ignore[attr-defined]  # one cache, not two
        shot = ShotFrames(project, range(12), capacity=4, prefetch=2)
        try:
            assert all(np.array_equal(shot[i], decoded[i]) for i in (0, 1, 2, 9, 3))
        finally:
            shot.close()


def test_interleaved_runs_of_reads_decode_each_frame_about_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two shots of a stage read at once (and frame threads read out of order): each run keeps a decoder
    of its own instead of seeking the one decoder back to a keyframe at every switch; the frames are
    the sequential decode's."""
    from app.sources.video import VideoFrameSource

    video = make_video(tmp_path / "c.mp4", 60, gop=30)
    decoded = list(open_source(video))
    import_source(video, tmp_path / "p").close()
    count = [0]
    forward = VideoFrameSource._forward

    def counting(self: VideoFrameSource, i: int) -> np.ndarray | None:
        before = self._pos
        found = forward(self, i)
        count[0] += max(0, self._pos - before)
        return found

    monkeypatch.setattr(VideoFrameSource, "_forward", counting)
    first, second = list(range(2, 29, 3)), list(range(32, 59, 3))
    order = [f for pair in zip(first, second, strict=True) for f in pair]
    order[4], order[6] = order[6], order[4]  # a frame thread ahead of the other: 8 read after 11
    with Project.open(tmp_path / "p") as project:
        for f in order:
            assert np.array_equal(project.frame(f), decoded[f])
    # The frames up to each run's last one, decoded once each (0..26 from the keyframe at 0, 30..56
    # from the one at 30: 54), and 0..8 again for the frame read late (63); one decoder seeking at
    # every switch decoded 224.
    assert count[0] <= 64
