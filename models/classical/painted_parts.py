"""A piece that looks like added light but is painted in its drawing's character colours is a character's part.

The segment stage types a piece an effect when nearly all of it is brighter than the plate in every
channel (`effects.additive_strength`): light added over the background. A pale part of a character over a
darker background is brighter in every channel too: skin-coloured legs or a white sleeve at night, pale
jeans on a dark street. Typed an effect, it never joins its character (`grouping.group_tracks` keeps
effects and characters apart) and stays an object of its own: on the 10 tuning seeds of
`benchmarks/segment_generated.py` (round 19), 6 of the 10 objects that fragment a character were such
pieces (legs, an arm, trousers), against 4 light-typed objects that were effects.

Light shifts the background's colour by a strength that changes from pixel to pixel (a glow's halo, a
spark's fade), so a lit region's colours are the background's, lifted; a painted part is drawn in the
flat fills its character is drawn in elsewhere in the same drawing (skin, a shirt's white). Per drawing:
a light-typed piece whose pixels are, for `SHARE` or more of them, colours (`tracks.colour_index`) that
at least `PRESENT` of the drawing's other pieces' cores hold is painted, not light. On main's output for
the tuning seeds, the share is 0.00-0.57 on the 4 effect objects and 0.80-1.00 on the character pieces
typed light (one drawing 0.34: a piece there mostly a floor's light line).
"""

from __future__ import annotations

from collections.abc import Set

import cv2
import numpy as np

from models.base import Image, Labels
from models.classical.tracks import COLOUR_BINS, colour_index

# Least share of a piece's pixels in colours the drawing's characters hold for it to be painted: between
# the effects' 0.57 and the character pieces' 0.80 (0.6 gives the same output on the 10 tuning seeds).
SHARE = 0.7
# Least share of the characters' cores in a colour for that colour to be theirs (a stray bin of an
# antialiased edge is not).
PRESENT = 0.002
K3 = np.ones((3, 3), np.uint8)


def painted_pieces(image: Image, labels: Labels, light: Set[int]) -> set[int]:
    """The pieces among ``light`` (ids in ``labels`` typed as added light) drawn in the colours of the
    drawing's other pieces (its characters): see the module docstring."""
    if not light:
        return set()
    characters = (labels > 0) & ~np.isin(labels, list(light))
    # The core: antialiased edges and line art mixed into a fill make colours no fill is drawn in.
    core = cv2.erode(characters.astype(np.uint8), K3) > 0
    total = int(core.sum())
    if total == 0:
        return set()
    code = colour_index(np.asarray(image, np.uint8))
    theirs = np.bincount(code[core], minlength=COLOUR_BINS) >= PRESENT * total
    return {oid for oid in light if float(theirs[code[labels == oid]].mean()) >= SHARE}
