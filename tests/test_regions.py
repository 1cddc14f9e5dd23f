"""The region prior: a character's shape prior is the set of its flat regions that moved, not a box."""

from __future__ import annotations

import cv2
import numpy as np

from models.classical.regions import claimable, restrict


def _scene() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A pale facade cut into strips by dark window lines, a blue shirt in a black outline standing
    in front of it; the shirt walked right, so a band along its leading edge departed from the plate,
    and a few pixels of that departure leak across the outline into the strip beside it."""
    img = np.full((90, 120, 3), (225, 215, 190), np.uint8)
    for x in (10, 95):  # the facade's window lines: the strip beside the shirt is closed
        cv2.line(img, (x, 0), (x, 89), (40, 40, 40), 2)
    cv2.rectangle(img, (40, 20), (70, 80), (60, 90, 200), -1)
    cv2.rectangle(img, (40, 20), (70, 80), (10, 10, 10), 2)
    shirt = np.zeros((90, 120), bool)
    shirt[23:78, 43:68] = True
    strip = np.zeros((90, 120), bool)
    strip[5:85, 75:92] = True
    moved = np.zeros((90, 120), bool)
    moved[23:78, 62:68] = True  # the leading edge of the shirt
    moved[40:42, 73:75] = True  # a leak across the outline
    return img, moved, shirt, strip


def test_a_region_that_moved_is_claimed_with_its_outline_and_the_strip_beside_it_is_not() -> None:
    img, moved, shirt, strip = _scene()
    claim = claimable(img, moved)
    assert claim[shirt].all()  # the whole shirt, not only its moved edge
    assert claim[50, 41] and claim[50, 68]  # the edge pixels around it go with it
    assert not claim[strip & ~moved].any()  # the strip holds a leak, not a moved region
    assert not claim[5:15, 20:35].any()


def test_a_prior_is_cut_to_its_regions_only_where_they_describe_it() -> None:
    img, moved, shirt, strip = _scene()
    claim = claimable(img, moved)
    prior = np.zeros((90, 120), bool)
    prior[15:88, 30:95] = True  # a body box over the shirt and the strip
    cut = restrict(prior, claim, cover=0.3)
    assert cut[shirt].all() and not cut[strip & ~moved].any()
    # A character that barely moved: its regions hold too little of the box to stand for it.
    still = claimable(img, np.zeros_like(moved))
    assert np.array_equal(restrict(prior, still, cover=0.3), prior)
