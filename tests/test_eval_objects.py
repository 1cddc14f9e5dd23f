"""`eval layers` object figures: one-to-one matching, fragmentation, identity; and the honest run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.demo.generator import generate_shots
from app.eval.layers import HELD_OUT_SEEDS, TUNING_SEEDS, eval_layers, identity_pairs, match_shot, write_mp4
from app.sources.source import open_source


def _truth() -> np.ndarray:
    t = np.zeros((20, 40), np.uint8)
    t[2:18, 2:12] = 1  # character 1: 160 px
    t[2:18, 20:30] = 2  # character 2: 160 px
    return t


def test_fragments_are_counted_and_the_biggest_piece_is_matched() -> None:
    t = _truth()
    p = np.zeros_like(t)
    p[2:12, 2:12] = 5  # character 1 in two pieces: 100 px ...
    p[12:18, 2:12] = 6  # ... and 60 px
    p[2:18, 20:30] = 9  # character 2 whole
    p[0:2, 34:40] = 7  # a bit of background: no character's
    m = match_shot([p, p], [t, t])
    assert m.matched == {1: 5, 2: 9}
    assert m.iou[1] == pytest.approx(100 / 160) and m.iou[2] == 1.0
    assert m.fragments == {1: 2, 2: 1} and m.extra == [7]
    assert sum(m.fragments.values()) / len(m.iou) == 1.5


def test_matching_is_one_to_one_and_optimal() -> None:
    # Greedy (best IoU first) would give A to character 2 (0.47) and leave character 1 unmatched;
    # the assignment that maximises the total gives A to 1 (0.39) and B to 2 (0.2).
    t = np.zeros((10, 20), np.uint8)
    t[:, 0:10] = 1
    t[:, 10:20] = 2
    p = np.zeros_like(t)
    p[:, 3:18] = 1  # A
    p[:, 18:20] = 2  # B: only on character 2
    m = match_shot([p], [t])
    assert m.matched == {1: 1, 2: 2}
    assert m.iou[1] == pytest.approx(7 / 18) and m.iou[2] == pytest.approx(0.2)
    merged = np.where(t > 0, 3, 0).astype(np.uint8)  # both characters as one object
    m = match_shot([merged], [t])
    assert len(m.matched) == 1 and sorted(m.iou.values()) == [0.0, 0.5]
    assert sum(m.fragments.values()) == 1  # fragmentation 0.5: a merge is not a fragment


def test_text_objects_are_left_out() -> None:
    t = _truth()
    p = t.copy()
    p[14:18, 2:30] = 9  # subtitle over both characters
    m = match_shot([p], [t], ignore=[{9}])
    assert m.matched == {1: 1, 2: 2} and 9 not in m.extra


def test_identity_across_shots_from_the_masks_ids() -> None:
    t = _truth()
    same = match_shot([t], [t])
    swapped = match_shot([np.where(t == 1, 2, np.where(t == 2, 1, 0)).astype(np.uint8)], [t])
    assert identity_pairs([same, same]) == (2, 2)
    assert identity_pairs([same, swapped]) == (0, 2)
    only_one = match_shot([np.where(t == 1, 1, 0).astype(np.uint8)], [np.where(t == 1, 1, 0).astype(np.uint8)])
    assert identity_pairs([same, only_one]) == (1, 1)


def test_clip_is_a_real_video(tmp_path: Path) -> None:
    video = generate_shots(3, width=96, height=64, shots=2, frames_per_shot=4)
    write_mp4(video, tmp_path / "c.mp4")
    source = open_source(tmp_path / "c.mp4")
    try:
        assert source.frame_count == 8
        frame = source.get(5)
    finally:
        source.close()
    # lossy, as any video: close to the picture, not equal
    err = np.abs(frame.astype(int) - video.frame(5).image.astype(int)).mean()
    assert 0 < err < 8


def test_eval_layers_runs_on_the_video_alone(tmp_path: Path) -> None:
    assert not set(TUNING_SEEDS) & set(HELD_OUT_SEEDS)
    result = eval_layers(seeds=[5], width=128, height=72, shots=2, frames_per_shot=5, workdir=tmp_path)
    run = result["per_seed"][0]
    assert run["frames"] == 10 and run["true_shots"] == 2
    assert run["detected_shots"] >= 1  # from the cut detector, not the generator
    assert 0.0 <= result["character_iou"] <= 1.0 and result["fragmentation"] >= 0.0
    assert result["matte_sad"] is not None and result["clean_psnr_db"] is not None
    assert result["held_out"] and result["tuning_seeds"] == list(TUNING_SEEDS)
    assert not list(tmp_path.iterdir())  # the temporary projects are gone


def test_eval_layers_passes_the_chosen_backends(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`celstudio eval layers --backend segmenter=bothways` measures that segmenter (it was ignored)."""
    import app.eval.layers
    from app.cli import main

    seen: list[dict[str, str] | None] = []

    def fake(**kwargs: object) -> dict[str, object]:
        seen.append(kwargs.get("backends"))  # type: ignore[arg-type]
        return {"character_iou": 1.0}

    monkeypatch.setattr(app.eval.layers, "eval_layers", fake)
    assert main(["eval", "layers", "--seeds", "5", "--backend", "segmenter=bothways,inpainter=patchfill"]) == 0
    assert main(["eval", "layers", "--seeds", "5"]) == 0
    assert seen == [{"segmenter": "bothways", "inpainter": "patchfill"}, {}]
    assert main(["eval", "layers", "--backend", "painter=lama"]) != 0 and len(seen) == 2
    assert "no backend role 'painter'" in capsys.readouterr().err
