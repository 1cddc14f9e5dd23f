"""A character's pixels under a burnt-in subtitle, for whole cut-outs (`models.classical.text_under`).

The label maps keep the subtitle its own ``text`` object (the clean plate paints it out, exports
leave it out). A cut-out of a character wants the whole character: where the text lies over it,
`under_text` gives the glyph pixels to the character (its mask and alpha cover them) and paints
them from the character - from the nearest frames of the shot that show the same drawing without
text there, else from the character's colours around them - and says which pixels were painted
and how.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

import cv2
import numpy as np

from app.pipeline.stages.common import NOT_CHARACTER
from app.sources.cache import FrameCache
from app.store import Project
from models.classical.text_under import COPIED, INVENTED, fill_under_text, reach_for, text_owners

MAX_DONORS = 8  # other drawings of the shot whose masks free some hidden pixel, tried nearest first
DONOR_BYTES = 96 << 20  # donor pictures and labels kept between frames (about 70 of each at 640x480)
FALLOFF = 4  # px round the text where the matte (made with the text cut out) falls off: 3 px on onepiece


@dataclass
class UnderText:
    """``owners``: the character each hidden pixel (and each speck of no object among the glyphs)
    belongs to (0 elsewhere); ``whose``: the same, and every other pixel of those characters;
    ``image``: the frame with the hidden pixels (and the characters' pixels on the glyphs' rim)
    painted; ``kind``: `COPIED` / `INVENTED` per painted pixel; ``solid``: where the matte is made
    opaque (the hidden pixels and the matte's fall-off the text cut into the characters);
    ``donors``: the frames that lent pixels."""

    owners: np.ndarray
    whose: np.ndarray
    image: np.ndarray
    kind: np.ndarray
    solid: np.ndarray
    donors: list[int] = field(default_factory=list)

    def labels(self, labels: np.ndarray) -> np.ndarray:
        """The label map with the hidden pixels given to their characters."""
        hidden = self.owners > 0
        return np.where(hidden, self.owners, labels).astype(labels.dtype)

    def alpha(self, alpha: np.ndarray | None) -> np.ndarray | None:
        """The characters' matte, opaque over the hidden pixels and the fall-off round them."""
        if alpha is None:
            return None
        return np.where(self.solid, np.uint8(255), alpha).astype(alpha.dtype)

    def record(self, oid: int) -> dict[str, object] | None:
        """What the manifest says of object ``oid``'s painted pixels (None when it has none)."""
        mine = self.whose == oid
        copied = int(np.count_nonzero(mine & (self.kind == COPIED)))
        invented = int(np.count_nonzero(mine & (self.kind == INVENTED)))
        if not copied + invented:
            return None
        return {"pixels": copied + invented, "from_other_frames": copied, "invented": invented,
                "under_text": int(np.count_nonzero(self.owners == oid)), "donor_frames": self.donors}

    def mask(self, oid: int) -> np.ndarray:
        """uint8 map of object ``oid``'s painted pixels: 255 copied from another frame, 128 invented."""
        mine = self.whose == oid
        return np.where(mine & (self.kind == COPIED), 255, np.where(mine & (self.kind == INVENTED), 128, 0)).astype(np.uint8)


def under_text(project: Project, frame: int, labels: np.ndarray | None = None,
               image: np.ndarray | None = None) -> UnderText | None:
    """The frame's characters' pixels under its text, painted; None when no text lies over a character."""
    text_ids = project.objects.ids_of_kind("text")
    if not text_ids:
        return None
    labels = project.masks_or_empty(frame) if labels is None else labels
    others = set(project.objects.ids_of_kind(*NOT_CHARACTER))
    chars = [int(i) for i in np.unique(labels) if i and int(i) not in others]
    owners = text_owners(labels, text_ids, chars, reach_for(labels.shape))
    if not owners.any():
        return None
    image = np.asarray(project.frame(frame)) if image is None else image
    used: list[int] = []

    def donors() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        hidden = owners > 0
        want = owners[hidden]
        root, versions = str(project.root), project.layers.versions("masks")
        for f in _donor_frames(project, frame):
            key = project.drawing_of(f)
            dlabels = _recent((root, "masks", key, int(versions[key])), partial(project.masks_or_empty, key))
            if dlabels.shape != labels.shape or not (dlabels[hidden] == want).any():
                continue  # the same text (or none of the character) there: nothing to lend
            used.append(f)
            yield _recent((root, "frame", key, 0), partial(project.frame, key)), dlabels
            if len(used) >= MAX_DONORS:
                return

    text = np.isin(labels, text_ids)
    painted, kind, lent = fill_under_text(image, labels, owners, text, donors())
    whose = np.where(owners > 0, owners, labels)
    falloff = cv2.dilate(text.view(np.uint8), np.ones((2 * FALLOFF + 1,) * 2, np.uint8)).astype(bool)
    falloff &= np.isin(whose, np.unique(owners[owners > 0]))
    return UnderText(owners, whose, painted, kind, (owners > 0) | (kind > 0) | falloff, sorted(used[n] for n in lent))


def donor_versions(project: Project, frame: int) -> list[tuple[int, int]]:
    """(drawing, mask version) of every drawing `under_text` may copy ``frame``'s hidden pixels from
    (one frame of each other drawing of the shot, `_donor_frames`): which of them lend depends on
    their masks, so an export's freshness key and the viewer's cache hold all of them."""
    versions = project.layers.versions("masks")
    return [(project.drawing_of(f), int(versions[f])) for f in _donor_frames(project, frame)]


VIEWED = 16  # frames whose `under_text` the viewer keeps (about 2 MB each at 640x480)
_viewed: OrderedDict[tuple[object, ...], UnderText | None] = OrderedDict()
_viewed_lock = threading.Lock()


def under_text_viewed(project: Project, frame: int) -> UnderText | None:
    """`under_text` for the app's cut-out view, kept for the last `VIEWED` frames by what it is made
    from: the frame's and its donors' mask versions and which objects are text or no character."""
    if not project.objects.ids_of_kind("text"):
        return None
    key = (str(project.root), frame, int(project.layers.version("masks", frame)), tuple(donor_versions(project, frame)),
           tuple(project.objects.ids_of_kind("text")), tuple(project.objects.ids_of_kind(*NOT_CHARACTER)))
    with _viewed_lock:
        if key in _viewed:
            _viewed.move_to_end(key)
            return _viewed[key]
    ut = under_text(project, frame)
    with _viewed_lock:
        _viewed[key] = ut
        while len(_viewed) > VIEWED:
            _viewed.popitem(last=False)
    return ut


# Donor pictures and label maps lately read, by project and drawing (the frames of a shot under one
# subtitle ask for the same few drawings, a picture each a decode from its keyframe); a label map is
# keyed by its version too, so an edit is never missed.
_DONORS = FrameCache(1 << 16, max_bytes=DONOR_BYTES)  # bounded by bytes: 1 << 16 frames is never reached


def _recent(key: tuple[str, str, int, int], load: Callable[[], np.ndarray]) -> np.ndarray:
    """``load()``, kept in `_DONORS` under ``key``."""
    array = _DONORS.get(key)
    return array if array is not None else _DONORS.put(key, np.asarray(load()))


def _donor_frames(project: Project, frame: int) -> list[int]:
    """One frame of each other drawing of ``frame``'s shot, nearest first."""
    shot = project.shot_of(frame)
    keys = project.drawing_keys
    seen: set[int] = {int(keys[frame])}
    out: list[int] = []
    for d in range(1, len(shot)):
        for f in (frame - d, frame + d):
            if f in shot and int(keys[f]) not in seen:
                seen.add(int(keys[f]))
                out.append(f)
    return out
