"""The plate check: background a character's mask took in is cut where other frames saw it outside
every mask; the character itself, even a flat colour equal to the background, is kept."""

from __future__ import annotations

import cv2
import numpy as np

from models.classical.plate_check import check_shot

H, W, PAN, STEP, N = 60, 90, 2, 6, 8
GREY = (128, 128, 128)


def scene(flat: bool) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """A panning shot over a wide background (textured, or one flat grey) with a disc character of
    grey skin inside a dark outline walking right; each frame's mask is the disc and a block of
    background beside it that walks with it (what GrabCut's box priors leave). Returns frames,
    masks (label 1), truth (the disc) and the frame-to-plate transforms."""
    rng = np.random.default_rng(3)
    wide = np.zeros((H, W + PAN * N, 3), np.uint8)
    wide[:] = GREY
    if not flat:
        for x in range(0, wide.shape[1], 7):  # painted bands, each its own colour
            wide[:, x:x + 7] = rng.integers(40, 230, 3)
    frames, masks, truth, transforms = [], [], [], []
    for i in range(N):
        img = wide.copy()
        cx, cy = 20 + STEP * i + PAN * i, 30  # in plate coordinates
        cv2.circle(img, (cx, cy), 12, GREY, -1)
        cv2.circle(img, (cx, cy), 12, (20, 20, 30), 2)
        disc = np.zeros(img.shape[:2], np.uint8)
        cv2.circle(disc, (cx, cy), 13, 1, -1)
        mask = disc.copy()
        mask[cy - 10:cy + 10, cx + 13:cx + 25] = 1  # the block beside the character, ahead of it
        sl = slice(PAN * i, PAN * i + W)
        frames.append(np.ascontiguousarray(img[:, sl]))
        masks.append(np.ascontiguousarray(mask[:, sl]))
        truth.append(np.ascontiguousarray(disc[:, sl]) > 0)
        transforms.append(np.array([[1.0, 0, PAN * i], [0, 1.0, 0], [0, 0, 1.0]]))
    return frames, masks, truth, transforms


def test_the_block_beside_a_walking_character_is_cut_and_the_character_kept() -> None:
    frames, masks, truth, transforms = scene(flat=False)
    out = check_shot(frames, masks, [{1: "character"}] * N, transforms)
    block = [(m > 0) & ~t for m, t in zip(masks, truth, strict=True)]
    kept_block = sum(int((o[b] > 0).sum()) for o, b in zip(out, block, strict=True))
    assert kept_block < 0.2 * sum(int(b.sum()) for b in block)  # most of it cut (the last frames' lead is unseen)
    assert all(bool((o[t] == 1).all()) for o, t in zip(out, truth, strict=True))


def test_a_flat_colour_equal_to_the_plate_inside_the_outline_is_kept() -> None:
    # The grey skin matches the grey plate everywhere; only the outline stands between the block
    # (cut) and the disc's inside.
    frames, masks, truth, transforms = scene(flat=True)
    out = check_shot(frames, masks, [{1: "character"}] * N, transforms)
    assert all(bool((o[t] == 1).all()) for o, t in zip(out, truth, strict=True))
    assert sum(int((o > 0).sum()) for o in out) < sum(int((m > 0).sum()) for m in masks)


def test_text_and_effects_are_left_as_they_are() -> None:
    frames, masks, _, transforms = scene(flat=False)
    for kind in ("text", "effect"):
        out = check_shot(frames, masks, [{1: kind}] * N, transforms)
        assert all(np.array_equal(o, m) for o, m in zip(out, masks, strict=True))


def partly_missed(
    still_head: bool, top: int,
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """A still camera over bands; a character of a head (a disc, still or walking) and a yellow block
    (a hat, a shirt: still, outlined in dark, from row ``top`` below the head) that the first three
    masks missed, so the plate learns the block. Returns frames, masks, the blocks and the
    transforms."""
    rng = np.random.default_rng(5)
    back = np.zeros((H, W, 3), np.uint8)
    for x in range(0, W, 7):
        back[:, x:x + 7] = rng.integers(40, 230, 3)
    frames, masks, blocks = [], [], []
    for i in range(N):
        img = back.copy()
        cx = 30 if still_head else 20 + STEP * i
        cv2.rectangle(img, (25, top), (60, 55), (20, 20, 30), -1)
        cv2.rectangle(img, (27, top + 2), (58, 53), (230, 200, 40), -1)
        cv2.circle(img, (cx, 20), 12, (240, 200, 170), -1)
        cv2.circle(img, (cx, 20), 12, (20, 20, 30), 2)
        block = np.zeros((H, W), np.uint8)
        cv2.rectangle(block, (25, top), (60, 55), 1, -1)
        mask = np.zeros((H, W), np.uint8)
        cv2.circle(mask, (cx, 20), 13, 1, -1)
        if i >= 3:
            mask |= block
        frames.append(img)
        masks.append(mask)
        blocks.append(block > 0)
    return frames, masks, blocks, [np.eye(3)] * N


def test_a_still_characters_part_the_plate_learnt_is_kept() -> None:
    # The block stands apart from the head, so the plate learnt all of it: only the stillness keeps it.
    frames, masks, blocks, transforms = partly_missed(still_head=True, top=40)
    out = check_shot(frames, masks, [{1: "character"}] * N, transforms)
    assert all(bool((o[b] == 1).all()) for o, b in zip(out[3:], blocks[3:], strict=True))


def test_a_part_continuing_its_mask_in_one_colour_is_kept() -> None:
    # The head walks away from the block; what keeps the block is the strip of it the plate never saw
    # (next to the first masks), joining the learnt part to the rest of the mask in its own colours.
    frames, masks, blocks, transforms = partly_missed(still_head=False, top=34)
    out = check_shot(frames, masks, [{1: "character"}] * N, transforms)
    assert all(bool((o[b] == 1).all()) for o, b in zip(out[3:], blocks[3:], strict=True))


def lagging_block() -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """A still camera over bands; a disc character walking right. The first frame's mask also holds a
    block of wall beside the disc (where the character stood: a lagging silhouette); the second frame
    shows that wall outside its mask, every later frame under a light that none of the masks holds, so
    the median of the frames that saw the block outside their masks is the light, not the wall.
    Returns frames, masks, the block, the discs and the transforms."""
    rng = np.random.default_rng(7)
    back = np.zeros((H, W, 3), np.uint8)
    for x in range(0, W, 7):
        back[:, x:x + 7] = rng.integers(60, 230, 3)
    block = np.zeros((H, W), bool)
    block[20:40, 6:18] = True
    frames, masks, discs = [], [], []
    for i in range(N):
        img = back.copy()
        if i >= 2:
            img[block] = np.minimum(255, img[block].astype(np.int16) + 70).astype(np.uint8)
        cx = 30 + STEP * i
        cv2.circle(img, (cx, 30), 12, GREY, -1)
        cv2.circle(img, (cx, 30), 12, (20, 20, 30), 2)
        disc = np.zeros((H, W), np.uint8)
        cv2.circle(disc, (cx, 30), 13, 1, -1)
        mask = disc.copy()
        if i == 0:
            mask[block] = 1
        frames.append(img)
        masks.append(mask)
        discs.append(disc > 0)
    return frames, masks, block, discs, [np.eye(3)] * N


def test_wall_one_other_frame_saw_is_cut_though_the_median_says_otherwise() -> None:
    frames, masks, block, discs, transforms = lagging_block()
    out = check_shot(frames, masks, [{1: "character"}] * N, transforms)
    assert int((out[0][block] > 0).sum()) < 0.1 * int(block.sum())  # the wall the second frame saw is cut
    assert all(bool((o[d] == 1).all()) for o, d in zip(out, discs, strict=True))  # the character is kept


def white_sleeve(flash: int) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """A still camera over bands; a disc character in a dark outline with a white sleeve below it
    (a line between them, none round the sleeve: a soft white edge), walking right, its masks exact. Frame ``flash`` is a white flash (every pixel lifted
    near white): outside its masks it shows white where the sleeve was in the other frames.
    Returns frames, masks and the sleeves."""
    rng = np.random.default_rng(5)
    back = np.zeros((H, W, 3), np.uint8)
    for x in range(0, W, 7):
        back[:, x:x + 7] = rng.integers(60, 200, 3)
    frames, masks, sleeves = [], [], []
    for i in range(N):
        img = back.copy()
        cx = 20 + STEP * i
        cv2.circle(img, (cx, 24), 10, GREY, -1)
        cv2.circle(img, (cx, 24), 10, (20, 20, 30), 2)
        img[35:53, cx - 6:cx + 7] = 255
        img[34:36, cx - 6:cx + 7] = (20, 20, 30)  # the line between the body and the sleeve
        mask = np.zeros((H, W), np.uint8)
        cv2.circle(mask, (cx, 24), 11, 1, -1)
        mask[34:53, cx - 6:cx + 7] = 1
        sleeve = np.zeros((H, W), bool)
        sleeve[36:53, cx - 6:cx + 7] = True
        if i == flash:
            img = (243 + img.astype(np.float32) * 0.05).astype(np.uint8)
        frames.append(img)
        masks.append(mask)
        sleeves.append(sleeve)
    return frames, masks, sleeves


def test_a_flash_frame_is_no_witness_of_the_wall() -> None:
    # The flash's white, outside its masks, matches the sleeve of every other frame; without
    # `stray_frames` the sleeves are cut as wall another frame saw (`seen_elsewhere`).
    frames, masks, sleeves = white_sleeve(flash=N - 2)
    out = check_shot(frames, masks, [{1: "character"}] * N, [np.eye(3)] * N)
    kept = [int((o[s] == 1).sum()) / int(s.sum()) for i, (o, s) in enumerate(zip(out, sleeves, strict=True)) if i != N - 2]
    assert min(kept) == 1.0, kept
