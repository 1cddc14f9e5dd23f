"""What a burnt-in subtitle hides of a character, for whole cut-outs.

A subtitle is an object of kind ``text`` of its own (`models.classical.text`), so the glyph pixels
are no character's label. Where the glyphs lie over a character, its cut-out then had glyph-shaped
transparent holes. The glyph pixels are the character's hidden pixels: `text_owners` gives a text
pixel to a character when the character lies on both sides of it along its row or its column
(the two at most ``2 reach + 1`` apart, through text only: a glyph's height, not a caption box), so a glyph
over the character's edge is split at the edge and a line along the edge stays text; and
`fill_under_text` paints them from the character - from another frame of the shot that shows the
same drawing without text there (a hold seen with another line of dialogue, or none), else from
the character's own colours around them (Telea, with only the character's pixels as sources).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

COPIED = 1  # `fill_under_text`'s kind: taken from another frame of the same drawing
INVENTED = 2  # filled from the character's colours around the glyphs
SAME_LEVELS = 16  # a donor shows the same drawing: its pixels within this of the frame's (every channel) ...
SAME_SHARE = 0.9  # ... on at least this share of the character's pixels around the glyphs
BAND = 8  # px around the hidden pixels over which a donor is compared with the frame
MIN_BAND = 40  # fewer compared pixels than this: no donor is trusted
GAP_AREA = 200  # px at 480 rows: a smaller piece of no object touching the text is a speck, not background
RIM = 2  # px at 480 rows round the text mask where the glyphs' soft outline still tints a character
CLEAR = np.ones((5, 5), np.uint8)  # a lent pixel lies 2 px inside the owner's pixels in the donor


def reach_for(shape: Sequence[int]) -> int:
    """How far a text pixel may be from the character it hides: 20 px at 480 rows, half a subtitle
    line (the text mask of a CJK line on onepiece_demo.mp4 is blocks whose centre lies up to 17.6 px
    from the nearest pixel outside them)."""
    return max(3, round(20 * shape[0] / 480))


def text_owners(labels: NDArray[np.integer], text_ids: Iterable[int], char_ids: Iterable[int],
                reach: int) -> NDArray[np.uint8]:
    """For every text pixel that hides a character, that character's id; 0 elsewhere. Specks of
    no object touching the text (`GAP_AREA`) go with the text (and then to the character they lie
    in): they are seen, not hidden, so `fill_under_text` paints only the text pixels' rim of them."""
    out = np.zeros(labels.shape, np.uint8)
    texts, chars = list(text_ids), list(char_ids)
    if not texts or not chars:
        return out
    text = np.isin(labels, texts)
    if not text.any():
        return out
    x, y, w, h = cv2.boundingRect(text.view(np.uint8))
    pad = reach + 2
    y0, y1 = max(0, y - pad), min(labels.shape[0], y + h + pad)
    x0, x1 = max(0, x - pad), min(labels.shape[1], x + w + pad)
    t = text[y0:y1, x0:x1].copy()
    lab = labels[y0:y1, x0:x1]
    # Specks of no object between and beside the glyphs (the segmenter's leftovers round the text)
    # are no background to split the text with: they go with the text.
    gaps = (lab == 0) & ~t
    count, comp, stats, _ = cv2.connectedComponentsWithStats(gaps.view(np.uint8), connectivity=4)
    speck = round(GAP_AREA * (labels.shape[0] / 480) ** 2)
    small = np.zeros(count, bool)
    small[1:] = stats[1:, cv2.CC_STAT_AREA] < speck
    touching = cv2.dilate(t.view(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    near_text = np.zeros(count, bool)
    near_text[np.unique(comp[touching & gaps])] = True
    t |= (small & near_text)[comp]
    if t.all():
        return out
    # A hidden pixel lies between two pixels of one character along a row or a column (at most
    # 2 reach + 1 apart, through text only): the glyph is over the character. A text line along
    # the character's edge (the character on one side only) stays text.
    span = 2 * reach + 1
    (up, du), (down, dd) = _beyond(t, lab, span), _beyond(t[::-1], lab[::-1], span)
    (left, dl), (right, dr) = _beyond(t.T, lab.T, span), _beyond(t.T[::-1], lab.T[::-1], span)
    down, dd, left, dl, right, dr = down[::-1], dd[::-1], left.T, dl.T, right[::-1].T, dr[::-1].T
    vertical = (up == down) & (up > 0) & (du + dd <= span)
    horizontal = (left == right) & (left > 0) & (dl + dr <= span)
    own = np.where(vertical, up, np.where(horizontal, left, 0))
    own[~t | ~np.isin(own, chars)] = 0
    out[y0:y1, x0:x1] = own
    return out


def _beyond(t: NDArray[np.bool_], lab: NDArray[np.integer], reach: int) -> tuple[NDArray[np.integer], NDArray[np.int32]]:
    """For every pixel of ``t``, the label of the first pixel above it outside ``t`` and how many
    rows up it is, when it is at most ``reach`` rows up (label 0 otherwise)."""
    rows = np.arange(lab.shape[0], dtype=np.int32)[:, None]
    last = np.maximum.accumulate(np.where(t, -1, rows), axis=0)  # the last row outside t, this one included
    above = np.vstack([np.full((1, lab.shape[1]), -1, np.int32), last[:-1]])
    dist = rows - above
    seen = np.take_along_axis(lab, np.maximum(above, 0), axis=0)
    out = np.where(t & (above >= 0) & (dist <= reach), seen, 0).astype(lab.dtype)
    return out, dist.astype(np.int32)


def same_drawing_near(image: NDArray[np.uint8], donor: NDArray[np.uint8], band: NDArray[np.bool_]) -> bool:
    """Whether ``donor`` shows the frame's drawing on ``band`` (the character's pixels around the glyphs)."""
    n = int(np.count_nonzero(band))
    if n < MIN_BAND:
        return False
    diff = np.abs(image[band].astype(np.int16) - donor[band].astype(np.int16)).max(axis=1)
    return float(np.count_nonzero(diff <= SAME_LEVELS)) >= SAME_SHARE * n


def fill_under_text(image: NDArray[np.uint8], labels: NDArray[np.integer], owners: NDArray[np.uint8],
                    text: NDArray[np.bool_], donors: Iterable[tuple[NDArray[np.uint8], NDArray[np.integer]]]
                    ) -> tuple[NDArray[np.uint8], NDArray[np.uint8], list[int]]:
    """The frame with the hidden pixels (``owners`` > 0 under ``text``, and the owners' pixels within
    `RIM` of the text) painted from their character, what each
    painted pixel is (`COPIED`, `INVENTED`; 0 unpainted) and which donors (their places in
    ``donors``) lent pixels.

    ``donors``: (frame, labels) of other frames of the shot, nearest first; a donor lends a pixel
    when its own label there is the owner (no text over it) and it shows the same drawing on the
    owner's pixels around the glyphs (`same_drawing_near`)."""
    out = image.copy()
    kind = np.zeros(owners.shape, np.uint8)
    lent: list[int] = []
    if not (owners > 0).any():
        return out, kind, lent
    # The text pixels, and the owners' pixels within `RIM` of them: the glyph's soft outline the
    # text mask leaves outside it.
    rim = max(1, round(RIM * image.shape[0] / 480))
    grown = cv2.dilate(text.view(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rim + 1,) * 2))
    chars = np.unique(owners[owners > 0])
    whose = np.where(owners > 0, owners, np.where(np.isin(labels, chars), labels, 0))
    todo = grown.astype(bool) & (whose > 0) & ((owners > 0) | ~text)
    if not todo.any():
        return out, kind, lent
    x, y, w, h = cv2.boundingRect(todo.view(np.uint8))
    pad = BAND + 4
    y0, y1 = max(0, y - pad), min(image.shape[0], y + h + pad)
    x0, x1 = max(0, x - pad), min(image.shape[1], x + w + pad)
    box = (slice(y0, y1), slice(x0, x1))
    own, lab, paint = whose[box], labels[box], todo[box]
    ring = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * BAND + 1, 2 * BAND + 1))
    near = cv2.dilate(paint.view(np.uint8), ring).astype(bool) & ~paint
    left = paint.copy()
    for n, (donor, dlabels) in enumerate(donors):
        if not left.any():
            break
        dimg, dlab = donor[box], dlabels[box]
        for oid in np.unique(own[left]):
            band = near & (lab == oid) & (dlab == oid)
            if not same_drawing_near(image[box], dimg, band):
                continue
            # the donor's pixel is the owner's and clear of its edges (a glyph's rim over it in the donor)
            theirs = cv2.erode((dlab == oid).view(np.uint8), CLEAR).astype(bool)
            take = left & (own == oid) & theirs
            out[box][take] = dimg[take]
            kind[box][take] = COPIED
            left &= ~take
            if take.any() and n not in lent:
                lent.append(n)
    if left.any():
        crop = out[box]
        for oid in np.unique(own[left]):
            # only the character's own pixels clear of the text (and those already painted) are
            # Telea's sources, in a box round what it fills
            fill = left & (own == oid)
            bx, by, bw, bh = cv2.boundingRect(fill.view(np.uint8))
            near_box = (slice(max(0, by - 6), by + bh + 6), slice(max(0, bx - 6), bx + bw + 6))
            unknown = ~((own == oid) & ~left)[near_box]
            painted = cv2.inpaint(np.ascontiguousarray(crop[near_box]), unknown.view(np.uint8), 3, cv2.INPAINT_TELEA)
            part = fill[near_box]
            crop[near_box][part] = painted[part]
            kind[box][fill] = INVENTED
    return out, kind, lent
