"""Label maps in the undo history and the journal are run-length packed (fast at 1080p), lossless."""

from __future__ import annotations

import numpy as np
import pytest

from app.store.edits import MaskEdit, decode_labels, encode_label_png, encode_labels


def _maps() -> list[np.ndarray]:
    yy, xx = np.mgrid[:270, :480]
    flat = np.zeros((270, 480), np.uint8)
    flat[((xx - 200) ** 2 + (yy - 130) ** 2) < 90**2] = 3
    flat[20:60, 300:460] = 255
    noisy = np.random.default_rng(0).integers(0, 4, (90, 120)).astype(np.uint8)
    return [flat, noisy, np.zeros((1, 1), np.uint8), np.full((3, 5), 7, np.uint8)]


@pytest.mark.parametrize("labels", _maps())
def test_roundtrip_is_exact(labels: np.ndarray) -> None:
    packed = encode_labels(labels)
    out = decode_labels(packed)
    assert out.dtype == np.uint8 and out.shape == labels.shape
    assert np.array_equal(out, labels)


def test_flat_map_is_runs_and_small_noisy_is_png() -> None:
    flat, noisy = _maps()[:2]
    assert encode_labels(flat).startswith(b"CRL1")
    assert len(encode_labels(flat)) < len(encode_label_png(flat))
    assert encode_labels(noisy).startswith(b"\x89PNG")


def test_png_from_older_journals_still_decodes() -> None:
    flat = _maps()[0]
    assert np.array_equal(decode_labels(encode_label_png(flat)), flat)
    edit = MaskEdit(4, encode_label_png(flat), encode_labels(flat))
    assert np.array_equal(edit.before, edit.after)


def test_damaged_runs_are_refused() -> None:
    packed = encode_labels(_maps()[0])
    for bad in (packed[:10], packed[:-3], packed[:16] + bytes(len(packed) - 16), packed[:8] + b"\x01" + packed[9:]):
        with pytest.raises(ValueError):
            decode_labels(bad)
