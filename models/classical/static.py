"""Static-shot cues for the segment stage: where a still picture's characters are, without any motion.

Most anime shots are still or nearly still (talking heads, close-ups): a median over the shot holds
the character, so background subtraction sees nothing. What still tells a character from the
painting behind it:

- colour unlike the frame border (backgrounds touch the border; the bottom often cuts a character,
  so only the top, left and right borders are the background's colours);
- flat colour (cel shading) against painted texture;
- dense dark line art (characters are drawn with closed outlines, backgrounds mostly are not);
- anime faces: sure foreground, with the head (hair, hats) around them and a body below, scaled by
  the face size.

`static_evidence` turns these into a GrabCut evidence map (``cv2.GC_*`` values).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import Image
from models.classical.filters import line_art, masked_median_colour

Box = tuple[int, int, int, int]  # x, y, w, h
K3 = np.ones((3, 3), np.uint8)
BORDER_SURE = 5.0  # Lab units from the nearest border colour


def border_contrast(image: Image, clusters: int = 10) -> NDArray[np.float32]:
    """Lab distance to the nearest colour of the top/left/right border (the bottom often cuts a
    character): backgrounds touch the frame border, characters stand out from it."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    h, w = lab.shape[:2]
    b = max(2, int(0.04 * min(h, w)))
    border = np.concatenate(
        [lab[:b].reshape(-1, 3), lab[:, :b].reshape(-1, 3), lab[:, w - b :].reshape(-1, 3)]
    )
    k = min(clusters, len(border))
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    # k-means++ draws from OpenCV's per-thread RNG: seed it, so the result does not depend on what
    # ran before on this thread (a batch worker and a local run have different histories); five
    # attempts keep the most compact clustering (still, 1 of 5 seeds tried gives the static test 0.57).
    cv2.setRNGSeed(1)
    _, _, centres = cv2.kmeans(border, k, None, crit, 5, cv2.KMEANS_PP_CENTERS)  # type: ignore[call-overload]
    d = np.min(np.linalg.norm(lab[:, :, None, :] - centres[None, None], axis=3), axis=2)
    return np.asarray(cv2.GaussianBlur(d, (5, 5), 0), np.float32)


def flatness(image: Image, noise: float = 8.0) -> NDArray[np.float32]:
    """1 where colour is locally flat (cel-shaded characters), towards 0 on painted texture."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    mu = cv2.blur(lab, (5, 5))
    sd = np.sqrt(np.maximum(cv2.blur(lab * lab, (5, 5)) - mu * mu, 0.0).sum(axis=2))
    flat = np.exp(-sd / noise).astype(np.float32)
    # Close over the thin dark outlines that separate a character's flat colour regions.
    return np.asarray(cv2.morphologyEx(flat, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8)), np.float32)


def line_density(image: Image) -> NDArray[np.float32]:
    """Local share of line-art pixels over about a tenth of the frame, scaled to [0, 1] by a high
    percentile: characters are densely outlined, painted backgrounds sparsely."""
    lines = line_art(image).astype(np.float32)
    r = max(3, min(image.shape[:2]) // 10) | 1
    dens = cv2.blur(lines, (r, r))
    top = float(np.percentile(dens, 98))
    return np.asarray(np.clip(dens / max(top, 1e-3), 0.0, 1.0), np.float32)


def face_priors(faces: Sequence[Box], shape: tuple[int, ...]) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Head (the ellipse in the face box grown for hair and hats) and body (a box below the face),
    scaled by face size."""
    h, w = shape[:2]
    head = np.zeros((h, w), np.uint8)
    body = np.zeros((h, w), bool)
    for x, y, fw, fh in faces:
        # The ellipse in the box around the face and its hair: a head is round, and the box's
        # corners beside it are the background behind the head (a building, the sky).
        x0, y0, x1, y1 = x - fw // 3, y - fh * 3 // 5, x + fw + fw // 3, y + fh
        cv2.ellipse(head, ((x0 + x1) // 2, (y0 + y1) // 2), ((x1 - x0) // 2, (y1 - y0) // 2), 0, 0, 360, 1, -1)
        body[min(h, y + fh) : min(h, y + 5 * fh), max(0, x - fw * 3 // 4) : min(w, x + fw + fw * 3 // 4)] = True
    return head > 0, body


def static_score(image: Image) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Foreground score of a still picture (border contrast x flatness x line-art density) and
    the border contrast alone."""
    bc = border_contrast(image)
    return bc * flatness(image) * (0.4 + 0.6 * line_density(image)), bc


def static_evidence(image: Image, faces: Sequence[Box] = ()) -> NDArray[np.uint8]:
    """GrabCut evidence (``cv2.GC_*``) for the characters of a still picture."""
    score, bc = static_score(image)
    u8 = np.clip(score * 2.0, 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    evidence = np.full(image.shape[:2], cv2.GC_PR_BGD, np.uint8)
    prob = cv2.morphologyEx((u8 > max(otsu, 20)).astype(np.uint8), cv2.MORPH_OPEN, K3)
    evidence[prob > 0] = cv2.GC_PR_FGD
    evidence[cv2.erode(prob, K3, iterations=2) > 0] = cv2.GC_FGD
    head, body = face_priors(faces, image.shape)
    # The border's own colours, away from any head, are sure background: GrabCut gets a
    # background colour model and cannot spread over a wall or foliage beside the character.
    evidence[(bc < BORDER_SURE) & ~head & (evidence == cv2.GC_PR_BGD)] = cv2.GC_BGD
    # The head is foreground even where its hair or hat has the background's colour; the body box
    # only fills undecided pixels (a box is a poor body shape next to evidence that knows better).
    evidence[head & (evidence == cv2.GC_PR_BGD)] = cv2.GC_PR_FGD
    evidence[body & (evidence == cv2.GC_PR_BGD)] = cv2.GC_PR_FGD
    for x, y, fw, fh in faces:
        evidence[y + fh // 6 : y + fh - fh // 6, x + fw // 6 : x + fw - fw // 6] = cv2.GC_FGD
    return evidence


def unenclosed(fg: NDArray[np.uint8], image: Image, share: float = 0.5, min_area: float = 0.002,
               match: float = 16.0, small: float = 0.004) -> NDArray[np.bool_]:
    """Foreground pixels that are background a plate never saw: regions not enclosed by a character.

    A character is drawn in flat colour regions cut out by its dark line art and colour edges, and
    each lies inside its mask. A region inside the mask is background when most of it continues
    outside the mask (grown by two pixels for its edge), or when it has the colour of what lies just
    outside the mask around it and is small (ground between two legs, sky between two close heads):
    a character standing on one spot hides it from the plate for most of a shot.
    """
    h, w = fg.shape[:2]
    blurred = cv2.GaussianBlur(image, (3, 3), 0)
    edges = line_art(image)
    for c in range(3):  # colour edges per channel: a hue change at equal brightness is an edge too
        edges |= cv2.Canny(np.ascontiguousarray(blurred[..., c]), 40, 100) > 0
    barrier = cv2.dilate(edges.astype(np.uint8), K3) > 0  # seals one-pixel gaps in a line
    n, comp, stats, _ = cv2.connectedComponentsWithStats((~barrier).astype(np.uint8), connectivity=4)
    inside = fg > 0
    near = cv2.dilate(fg, K3, iterations=2) > 0
    total = np.bincount(comp.ravel(), minlength=n)
    outside = np.bincount(comp[~near], minlength=n)
    drop = (outside > share * total) & (outside >= min_area * h * w)
    lab = np.asarray(cv2.cvtColor(image, cv2.COLOR_RGB2LAB), np.uint8)  # medians by counting
    clear = ~near & ~barrier
    r = max(3, round(0.06 * max(h, w)))  # how far around a region its background is looked for
    within = np.bincount(comp[inside], minlength=n)
    # Only small regions are judged by colour: a face or a shirt coloured like the wall behind it is
    # a large region (a real clip lost a tenth of a character's face to this without the limit).
    for k in np.flatnonzero((within > share * total) & (total <= small * h * w) & ~drop):
        if k == 0:
            continue
        x, y, bw, bh = (int(v) for v in stats[k, :4])
        x0, y0, x1, y1 = max(0, x - r), max(0, y - r), min(w, x + bw + r), min(h, y + bh + r)
        own = comp[y0:y1, x0:x1] == k
        ring = (cv2.dilate(own.astype(np.uint8), K3, iterations=r) > 0) & clear[y0:y1, x0:x1]
        if ring.sum() < 10:
            continue
        win = lab[y0:y1, x0:x1]
        drop[k] = float(np.linalg.norm(masked_median_colour(win, own) - masked_median_colour(win, ring))) < match
    drop[0] = False  # barrier pixels: the lines themselves stay with whatever holds them
    return np.asarray(inside & drop[comp])
