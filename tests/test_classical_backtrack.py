"""A character hidden behind another keeps its own track: the backward pass over a shot's pieces, and
how its labels are reconciled with the forward pass's (`models.classical.backtrack`)."""

from __future__ import annotations

import numpy as np
import pytest
from test_classical_segmentation import make_shot

from models.classical import segmentation
from models.classical.backtrack import TrackedFrame, joins_apart, reconcile, track_backward
from models.classical.segmentation import ClassicalSegmenter
from models.classical.tracking import IdTracker, carry_labels, components, split_merged


def _labels(*pieces: tuple[int, int, int]) -> np.ndarray:
    """A 20x40 label map with each (id, x0, x1) a full-height band of columns."""
    lab = np.zeros((20, 40), np.uint8)
    for oid, x0, x1 in pieces:
        lab[:, x0:x1] = oid
    return lab


def test_a_part_the_backward_pass_split_off_joins_the_track_it_becomes() -> None:
    # B stands half hidden behind A for two frames (one forward blob, id 1), then steps out (id 2).
    # Followed from the end, the backward pass split B's part off the blob in those frames.
    forward = [_labels((1, 0, 20)), _labels((1, 0, 20)), _labels((1, 0, 14), (2, 22, 30))]
    backward = [_labels((1, 0, 14), (2, 14, 20)), _labels((1, 0, 14), (2, 14, 20)), forward[2]]
    out = reconcile(forward, backward, min_pixels=16)
    assert out is not None
    a, b = int(out[2][0, 0]), int(out[2][0, 25])
    assert a != b
    for f in (0, 1):
        assert (out[f][:, :14] == a).all() and (out[f][:, 14:20] == b).all()
    # The forward pass alone leaves B inside A's track there.
    assert (forward[0][:, 14:20] == forward[0][0, 0]).all()


def test_ids_the_backward_pass_swapped_do_not_swap_the_tracks() -> None:
    # Both passes see A and B apart; the backward pass swapped their ids in the first frame (a
    # crossing it followed the wrong way). The forward tracks stand.
    forward = [_labels((1, 0, 10), (2, 20, 30)), _labels((1, 2, 12), (2, 18, 28))]
    backward = [_labels((2, 0, 10), (1, 20, 30)), _labels((1, 2, 12), (2, 18, 28))]
    out = reconcile(forward, backward, min_pixels=16)
    assert out is not None
    assert out[0][0, 0] == out[1][0, 5] != out[0][0, 25] == out[1][0, 25]


def test_a_boundary_drawn_elsewhere_is_no_split() -> None:
    # The passes put the boundary between A and B two columns apart: a thin strip of B's backward
    # piece inside A's forward piece is not a character of its own.
    forward = [_labels((1, 0, 12), (2, 12, 30))]
    backward = [_labels((1, 0, 10), (2, 10, 30))]
    out = reconcile(forward, backward, min_pixels=16)
    assert out is not None
    assert len(np.unique(out[0])) == 3 and (out[0][:, :12] == out[0][0, 0]).all()


def _scene(xa: int, xb: int) -> tuple[np.ndarray, np.ndarray]:
    """A green figure A in front of a red figure B, on sky; the true labels."""
    img = np.full((60, 120, 3), (150, 200, 240), np.uint8)
    lab = np.zeros((60, 120), np.uint8)
    for oid, x, colour in ((2, xb, (230, 90, 90)), (1, xa, (90, 200, 90))):
        img[10:55, x : x + 20] = (20, 20, 20)
        img[12:53, x + 2 : x + 18] = colour
        lab[10:55, x : x + 20] = oid
    return img, lab


def _walk_out() -> tuple[list[tuple[np.ndarray, np.ndarray]], list[np.ndarray], list[TrackedFrame]]:
    """B starts mostly behind A (one blob) and walks right, out from behind it: the scenes, the
    forward pass's labels as the segment stage makes them (the first frame's blob is one id,
    carried on) and the tracked frames."""
    scenes = [_scene(40, 48 + 6 * i) for i in range(6)]
    comps = [components((lab > 0).astype(np.uint8), 0.0) for _, lab in scenes]
    tracker, forward = IdTracker(), list[np.ndarray]()
    for i, ((img, _), c) in enumerate(zip(scenes, comps, strict=True)):
        carried = carry_labels(forward[-1], scenes[i - 1][0], img, 10) if forward else None
        c = split_merged(c, img, [], carried)
        forward.append(tracker.assign(c, carried)[c].astype(np.uint8))
    tracked = [TrackedFrame(i, c, img, [], np.eye(3)) for i, ((img, _), c) in enumerate(zip(scenes, comps, strict=True))]
    return scenes, forward, tracked


def test_the_backward_pass_splits_a_blob_that_two_characters_walk_out_of() -> None:
    scenes, forward, tracked = _walk_out()
    backward = track_backward(tracked, forward[-1], 10)
    both = reconcile(forward, backward, min_pixels=16)
    assert both is not None
    _, lab0 = scenes[0]
    b_last = np.bincount(both[-1][scenes[-1][1] == 2]).argmax()
    share = float((both[0][lab0 == 2] == b_last).mean())
    assert share > 0.8, share
    assert float((forward[0][lab0 == 2] == forward[0][lab0 == 1][0]).mean()) > 0.9  # the forward pass merged them


def test_a_split_that_puts_a_track_beside_one_it_never_met_is_undone() -> None:
    # A (right) is tracked forwards as 2, hides behind B for a frame (blob 1) and comes back as 3.
    # From the end the backward pass follows A as 3 into the blob (a right split) but then onto a
    # strip of B (a wrong piece) where A is still apart. Forward ids 2 and 3 never met: the strip
    # goes back to B, and A's later track does not reach into A's earlier frames.
    forward = [_labels((1, 0, 20), (2, 24, 34)), _labels((1, 0, 20), (2, 24, 34)),
               _labels((1, 0, 26)), _labels((1, 0, 20), (3, 22, 32))]
    backward = [_labels((1, 0, 12), (3, 12, 20), (5, 24, 34)), _labels((1, 0, 12), (3, 12, 20), (5, 24, 34)),
                _labels((1, 0, 20), (3, 20, 26)), forward[3]]
    plain = reconcile(forward, backward, min_pixels=16, guard=False)
    out = reconcile(forward, backward, min_pixels=16, guard=True)
    assert plain is not None and out is not None
    assert plain[0][0, 15] != plain[0][0, 0]  # without the guard the strip was split off B
    for f in (0, 1):
        assert (out[f][:, :20] == out[f][0, 0]).all()
    late, early = int(out[3][0, 25]), int(out[0][0, 25])
    assert (out[2][:, 20:26] == late).all() and late != early
    assert late not in out[0] and late not in out[1] and early not in out[2] and early not in out[3]


def test_a_leftover_strip_of_the_other_track_does_not_undo_a_split() -> None:
    # As above, but where the backward pass splits A off the blob, A's earlier track (2) holds only
    # a strip left behind, smaller than A's piece: the split stands.
    forward = [_labels((1, 0, 20), (2, 24, 34)), _labels((1, 0, 26), (2, 36, 38)), _labels((1, 0, 20), (3, 22, 32))]
    backward = [_labels((1, 0, 20), (5, 24, 34)), _labels((1, 0, 18), (3, 18, 26), (5, 36, 38)), forward[2]]
    out = reconcile(forward, backward, min_pixels=16, guard=True)
    assert out is not None
    assert (out[1][:, 18:26] == out[2][0, 25]).all() and out[1][0, 0] != out[2][0, 25]


def test_the_segmenter_setting_turns_the_backward_pass_off() -> None:
    scenes, forward, tracked = _walk_out()
    lab0 = scenes[0][1]
    on = ClassicalSegmenter(backtrack=True)._both_ways(forward, tracked, [None] * len(forward), 10)
    off = ClassicalSegmenter(backtrack=False)._both_ways(forward, tracked, [None] * len(forward), 10)
    assert all(np.array_equal(a, b) for a, b in zip(off, forward, strict=True))
    assert len(set(on[0][lab0 > 0].tolist())) == 2  # on: B split off A's blob in the first frame


def test_a_forward_piece_keeps_its_part_when_a_wrong_piece_outgrows_it() -> None:
    # A (forward id 1) is seen whole beside C (2); in frame 2 A's forward piece also takes in a larger
    # false patch P, which the backward pass carried B's id 4 onto (B enters in frame 3), and the
    # backward pass merged A with C there, so A's part is no split of its own. A keeps its track in
    # frame 2; the patch goes with B's.
    forward = [_labels((1, 0, 10), (2, 28, 40)), _labels((1, 0, 10), (2, 28, 40)),
               _labels((1, 0, 22), (2, 28, 40)),
               _labels((1, 0, 10), (4, 22, 28), (2, 28, 40)), _labels((1, 0, 10), (4, 22, 28), (2, 28, 40))]
    backward = [*forward[:2], _labels((1, 0, 10), (4, 10, 22), (1, 28, 40)), *forward[3:]]
    out = reconcile(forward, backward, min_pixels=16)
    assert out is not None
    a, b = int(out[0][0, 0]), int(out[3][0, 25])
    assert a != b
    assert (out[2][:, :10] == a).all()  # the largest part's pair would have taken A into B's track
    assert (out[2][:, 10:22] == b).all()


def test_a_grouping_that_absorbs_a_forward_character_is_caught_and_a_swap_is_not() -> None:
    forward = [_labels((1, 0, 10), (2, 20, 30)), _labels((1, 0, 10), (2, 20, 30))]
    renamed = [_labels((1, 0, 10), (2, 20, 30)), _labels((2, 0, 10), (1, 20, 30))]  # ids differ: no matter
    assert not joins_apart(forward, renamed, min_pixels=16)
    absorbed = [forward[0], _labels((1, 0, 10), (1, 20, 30))]
    assert joins_apart(forward, absorbed, min_pixels=16)
    # A strip of the other character under `JOIN_SHARE` of the grouped character's pixels is an edge.
    edge = [forward[0], _labels((1, 0, 10), (1, 20, 21), (2, 21, 30))]
    assert not joins_apart(forward, edge, min_pixels=16)
    # The forward pass swapped A and B in a crossing (frame 1, both in one blob's two halves, ids 1 and
    # 2 each half on each); the both-ways characters each hold both there: a swap mended, not absorbed.
    forward = [_labels((1, 0, 10), (2, 20, 30)), _labels((1, 0, 8), (2, 8, 16), (1, 16, 24), (2, 24, 30)),
               _labels((2, 0, 10), (1, 20, 30))]
    mended = [forward[0], _labels((1, 0, 16), (2, 16, 30)), forward[0]]
    assert not joins_apart(forward, mended, min_pixels=16)


def test_the_segmenter_keeps_the_forward_grouping_when_the_both_ways_one_absorbs_a_character(
        monkeypatch: pytest.MonkeyPatch) -> None:
    frames, _, _ = make_shot()

    def emptied(self: ClassicalSegmenter, labels: list[np.ndarray], *_: object) -> list[np.ndarray]:
        return [np.zeros_like(lab) for lab in labels]  # a both-ways result unlike the forward one

    off = [s.labels for s in ClassicalSegmenter(backtrack=False).segment_shot(frames)]
    monkeypatch.setattr(ClassicalSegmenter, "_both_ways", emptied)
    for absorbs in (False, True):
        monkeypatch.setattr(segmentation, "joins_apart", lambda *_, absorbs=absorbs: absorbs)
        on = [s.labels for s in ClassicalSegmenter(backtrack=True).segment_shot(frames)]
        assert all(np.array_equal(a, b) for a, b in zip(on, off, strict=True)) == absorbs
