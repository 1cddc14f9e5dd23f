"""Weight-free segment stage: what departs from the shot's background plate is foreground.

Per shot: the camera (the shot's one analysis when the caller passes it, else estimated here in two
passes, the second excluding what moved against the first: `estimate_shot_camera`), a median
background plate at ~480 px through it (`background.BackgroundModel`), then per frame:

1. evidence - Lab distance between the frame and the plate warped into it, thresholded robustly
   (median + k*MAD), plus anime-face detections as sure foreground;
2. GrabCut initialised from that evidence (sure/probable fg/bg) in the foreground's bounding box;
3. a guided filter on the full-resolution frame upsamples the mask edge-aware;
4. connected components become pieces; the previous frame's objects are carried into this one,
   each by its own motion (`tracking.carry_labels`), blobs holding two of them (or two faces, or a
   second head beside a face: a character hidden behind another, `tracking.split_hidden`) are
   split, and each piece takes the id of the carried object it covers. Flash and impact frames
   (the picture departs from the plate as a whole) keep the previous frame's objects; with
   `backtrack` on (the both-ways menu choice) the same pieces are then tracked from the shot's end
   too, so a character hidden behind another at the start keeps its own track;
5. per shot, pieces that are one character become one track (`grouping.group_tracks`).
6. a part of a character that most of its nearest drawings hold (a hat, the same colours at the
   same place after the character's motion) is put back where a few drawings lost it
   (`held_parts.restore_held_parts`); a hidden character's strip joins its track
   (`hidden_strips.join_hidden_strips`);
7. two characters' ids the tracker exchanged as they crossed are given back by their colours
   (`crossings.unswap_crossings`), and an object's regions drawn in another character's colours go to
   that character (`shared_objects.split_shared`: two touching characters as one object, a hidden
   one's strip on the front one); a track that is one character and then another gives the side that
   is another track's character to that track (`track_changes.cut_changed_tracks`).

Static shots (no camera motion, the character barely moving) burn the character into the median.
They are detected by a near-empty difference everywhere, and segmented from the plate itself by
colour contrast against the frame border (backgrounds touch the border), faces and GrabCut.

The module stays one piece (~320 lines): the two passes over a shot share their per-shot state
(plate, camera, tracker, the frames' evidence); every helper that needs none of it lives in
`background`, `tracking`, `grouping`, `labelmaps`, `text` and `static`.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar

import cv2
import numpy as np
from numpy.typing import NDArray

from models.base import FrameSegmentation, Image, Labels, ObjectKind, Role
from models.classical.background import BackgroundModel, difference, grabcut, guided_upsample, robust_threshold
from models.classical.backtrack import TrackedFrame, joins_apart, reconcile, track_backward
from models.classical.camera import estimate_camera
from models.classical.crossings import unswap_crossings
from models.classical.effects import additive_strength, flash_strength
from models.classical.eyes import eye_pair_faces, eye_pair_looks, shot_sized_faces, tinted_sized_faces
from models.classical.faces import AnimeFaceDetector, carry_faces
from models.classical.geometry import Matrix, model_scale, rescale_transform, resize
from models.classical.grouping import FrameTracks, group_tracks, still_characters, whole_characters
from models.classical.held_parts import restore_held_parts
from models.classical.hidden_strips import join_hidden_strips
from models.classical.labelmaps import relabel, streaks
from models.classical.painted_parts import painted_pieces
from models.classical.plate import warp_to_frame
from models.classical.shared_objects import split_shared
from models.classical.static import face_priors, static_evidence, unenclosed
from models.classical.text import resize_mask, steady_text, text_mask
from models.classical.threads import results_in_order
from models.classical.track_changes import cut_changed_tracks
from models.classical.tracking import (
    IdTracker,
    add_palettes,
    carry_labels,
    components,
    faced_labels,
    hulls,
    split_hidden,
    split_merged,
)
from models.classical.unflash import flash_strengths, strongly_undone, unflash_shot

K3 = np.ones((3, 3), np.uint8)
# A frame whose background agrees with the plate over less than this share of what the shot's
# earlier frames did departs from it as a whole (impact frames: 0.00-0.04 against 0.7-0.8).
WHOLE_FRAME = 0.25
# A strong flash undone (`unflash.strongly_undone`) whose background agrees with the plate over less than
# this share of what the shot's other frames did is noise stretched with it (a codec's blocks: 0.19-0.61 of
# it on the 30 tuning flash shots through H.264, 1.05 undone from clean frames): its characters are where
# they were a frame ago, as for a flash left as it is.
STRONG_AGREE = 0.8
# No object is born on a strong flash undone: a piece no carried object holds is that frame's noise.
NO_NEW_ON_STRONG = True


class ClassicalSegmenter:
    """Segmenter backend from background subtraction, face seeds and GrabCut; no weights.

    Parameters
    ----------
    long_side
        Modelling resolution (long side in pixels).
    max_plate_frames
        Frames sampled into the background median.
    min_object_area
        Components smaller than this fraction of the frame are dropped.
    cascade_path
        Optional explicit ``lbpcascade_animeface.xml``.
    still_share
        A shot whose frames depart from the rest over less than this share of the frame (a talking
        head, a laugh) also takes the still-picture cues: its character is burnt into the plate.
    backtrack
        Also track the shot's pieces from its end (`models.classical.backtrack`), so a character
        hidden behind another at the start keeps its own track; the forward grouping is kept where the
        both-ways one would absorb one of its characters into another (`backtrack.joins_apart`). Off by
        default: it gains on 30 tuning seeds (character IoU and identity), but on the merged main of
        round 7 it lost character IoU on held-out seeds 401-403 and 411-413 (-0.015, -0.069) with no
        identity gain there (docs/results.md, issue #9, "Round 7 (wt-D)" and "On the merged main
        (stop 24)"). The menu's `BothWaysSegmenter` turns it on.
    """

    name: ClassVar[str] = "classical"
    role: ClassVar[Role] = "segmenter"

    def __init__(
        self, *, long_side: int = 480, max_plate_frames: int = 40, min_object_area: float = 0.002,
        cascade_path: str | None = None, still_share: float = 0.05, workers: int | None = None,
        backtrack: bool = False,
    ) -> None:
        self.still_share = still_share
        self.backtrack = backtrack
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self.long_side = long_side
        self.max_plate_frames = max_plate_frames
        self.min_object_area = min_object_area
        self.faces = AnimeFaceDetector(cascade_path)

    def load(self, device: str = "cpu") -> None:
        """Nothing to load."""

    def release(self) -> None:
        """Nothing to release."""

    # -- shot level ------------------------------------------------------------------------------

    def segment_shot(
        self, frames: Sequence[Image], transforms: Sequence[Matrix] | None = None, times: Sequence[int] | None = None,
        *, tick: Callable[[], None] | None = None,
    ) -> list[FrameSegmentation]:
        """Object-id maps for every frame of one shot (kinds ``character``, or ``effect``).

        ``transforms``: the shot's camera (one frame-to-plate transform per frame, the pipeline's one
        analysis per shot), used as given; without it the camera is estimated here
        (`estimate_shot_camera`), with ``times`` (the frames' indices, e.g. a shot's drawings) as the
        constant-velocity prior's timing. ``tick`` is called after each frame is looked at (and after
        each is finished); what it raises stops the shot there (the pipeline's cancel: a long real shot
        takes minutes here, before any frame's result exists)."""
        step = tick if tick is not None else (lambda: None)
        n = len(frames)
        if n == 0:
            return []
        strengths = flash_strengths(frames)
        plate_frames = unflash_shot(frames, for_plate=True, strengths=strengths)  # what the camera and plate read
        frames = unflash_shot(frames, strengths=strengths)  # a white flash's characters are segmented as in any drawing
        strong = strongly_undone(strengths)  # each level left of these is many: their noise is stretched too
        shape = frames[0].shape
        s = model_scale(shape, self.long_side)
        refs = min(self.max_plate_frames, 16)
        if transforms is None:
            transforms, _ = estimate_shot_camera(plate_frames, self.long_side, times, refs)
        elif len(transforms) != n:
            raise ValueError(f"{len(transforms)} camera transforms for {n} frames")
        transforms = [np.asarray(t, np.float64) for t in transforms]
        model = BackgroundModel(plate_frames, transforms, s, refs)
        static_fg: NDArray[np.uint8] | None = None
        if model.static or model.moving_share < self.still_share:
            static_fg = self._static_foreground(model.plate)
        prev: tuple[NDArray[np.uint8], Matrix, Image] | None = None
        search = max(8, round(0.08 * max(shape[:2]) * s))  # a character's walk in one frame
        agreement: list[float] = []  # plate agreement of the frames so far
        tracker = IdTracker()
        faced_ids: set[int] = set()  # ids that held a face core in a drawing: characters, not pieces
        track_palettes: dict[int, NDArray[np.bool_]] = {}  # each id's colours over the drawings so far

        # Faces first, for the whole shot: a face the detector misses in some drawings is carried
        # there from the nearest drawings that show it unchanged (`faces.carry_faces`).
        workers = max(1, min(self.workers, n))
        with ThreadPoolExecutor(workers) as pool:
            smalls = list(pool.map(lambda f: resize(f, s), frames))
        detected = []
        looks = []
        for img in smalls:
            if self.faces.available:
                detected.append(self._detect_faces(img))
            else:
                looks.append(self._eye_pairs(img))
            step()
        small_transforms = [rescale_transform(t, s) for t in transforms]
        # Without the cascade, eye pairs a third to two thirds of the faces around them: in a character's
        # bangs, two dark blobs of one face paired with tinted whites; and tinted pairs that no other
        # drawing's face is over: on the background, a hand (`eyes.tinted_sized_faces`).
        if not self.faces.available:
            pictures = [0]
            for a, b in itertools.pairwise(frames):
                pictures.append(pictures[-1] + (not np.array_equal(a, b)))
            detected = shot_sized_faces(tinted_sized_faces(looks, small_transforms, pictures), small_transforms)
        found = carry_faces(smalls, detected, small_transforms)
        del smalls

        def frame_mask(i: int) -> _FrameEvidence:
            small = resize(frames[i], s)
            return self._frame_mask(small, frames[i], model, i, transforms[i], shape, s, static_fg, found[i])

        # Pass 1: pieces. Frames are independent until ids are tracked: GrabCut (which releases the
        # GIL) runs on every core, a window of frames at a time so memory stays bounded.
        track_labels: list[NDArray[np.uint8]] = []  # each frame's piece ids, followed forwards
        seen_frames: list[tuple[tuple[float, float], list[tuple[int, int, int, int]], Image, NDArray[np.float32]]] = []
        tracked: list[TrackedFrame] = []  # frames whose pieces were tracked (kept for `backtrack` only)
        last_tracked = 0  # the latest frame whose pieces were tracked (not held, not a flash)
        derived: list[tuple[int, Matrix | None] | None] = []  # others: (source frame, its warp into this one)
        kept: list[tuple[NDArray[np.bool_], NDArray[np.bool_] | None]] = []  # background, text
        centre = np.array([shape[1] * s / 2, shape[0] * s / 2, 1.0])
        with ThreadPoolExecutor(workers) as pool:
            pending = [pool.submit(frame_mask, i) for i in range(min(n, 2 * workers))]
            for i in range(n):
                ev = pending[i].result()
                if i + 2 * workers < n:
                    pending.append(pool.submit(frame_mask, i + 2 * workers))
                fg_small = ev.fg
                agree = float(ev.background.mean())
                # The picture departs from the plate as a whole (an impact frame redraws it in two
                # inks, a flash whitens it): the plate that agreed with the shot's earlier frames
                # agrees nowhere now.
                whole_frame = bool(agreement) and agree < WHOLE_FRAME * float(np.median(agreement))
                if strong[i] and agreement and agree < STRONG_AGREE * float(np.median(agreement)):
                    whole_frame = True  # a strong flash undone into noise
                if not whole_frame:
                    agreement.append(agree)
                text_small = resize_mask(ev.text, fg_small.shape) if ev.text is not None else None
                if text_small is not None:
                    fg_small = np.where(text_small, 0, fg_small).astype(np.uint8)  # text is no character
                comps = components(fg_small, self.min_object_area)
                warped_prev: NDArray[np.uint8] | None = None
                carried: NDArray[np.uint8] | None = None
                shift = (0.0, 0.0)
                if prev is not None:
                    m = rescale_transform(np.linalg.inv(transforms[i]) @ prev[1], s)[:2]
                    size = fg_small.shape[::-1]
                    warped_prev = np.asarray(cv2.warpAffine(prev[0], m, size, flags=cv2.INTER_NEAREST), np.uint8)
                    warped_img = np.asarray(cv2.warpAffine(prev[2], m, size, flags=cv2.INTER_LINEAR), np.uint8)
                    # Each object moved by its own motion: the camera does not walk the characters.
                    carried = carry_labels(warped_prev, warped_img, ev.small, search)
                    moved = m @ centre
                    shift = (float(moved[0] - centre[0]), float(moved[1] - centre[1]))
                if track_labels and np.array_equal(frames[i], frames[i - 1]):
                    # A held drawing (anime on twos and threes) is the same picture: the same
                    # objects, whether the caller passes each drawing once or every frame.
                    labels_small = track_labels[-1]
                    derived.append((i - 1, None))
                elif warped_prev is not None and (flash_strength(ev.small) > 0.5 or whole_frame):
                    # A whole-frame flash lifts everything off the plate, an impact frame redraws
                    # the whole picture: the characters are where they were a frame ago (the
                    # effects stage separates the flash itself).
                    labels_small = warped_prev
                    derived.append((last_tracked, m))
                else:
                    last_tracked = i
                    if self.backtrack:  # its components and picture, held through the shot only when used
                        tracked.append(TrackedFrame(i, comps, ev.small, ev.faces, rescale_transform(transforms[i], s)))
                    derived.append(None)
                    # A character hidden behind another shows as a second head beside the front one's.
                    comps, heads = split_hidden(comps, ev.small, ev.faces)
                    comps = split_merged(comps, ev.small, ev.faces, carried,
                                         previous_frame=None if warped_prev is None else (warped_prev, warped_img),
                                         characters=faced_ids, track_palettes=track_palettes)
                    ev.faces = ev.faces + heads  # the shot's grouping keeps the two heads apart
                    ids = tracker.assign(comps, carried)
                    labels_small = ids[comps].astype(np.uint8)
                    faced_ids |= faced_labels(labels_small, ev.faces)
                    add_palettes(track_palettes, labels_small, ev.small)
                    if NO_NEW_ON_STRONG and strong[i] and carried is not None:
                        # A strong flash undone: its stretched noise makes pieces of nothing (seed 522's
                        # "Effect 1"); the objects carried into it take what they overlap, the rest is background.
                        labels_small = _no_new_objects(labels_small, carried)
                    # The next frame follows the objects from this one; a flash or impact frame's
                    # restyled colours would mislead the matching, so those are skipped over.
                    prev = (labels_small, transforms[i], ev.small)
                if prev is None:
                    prev = (labels_small, transforms[i], ev.small)
                track_labels.append(labels_small)
                seen_frames.append((shift, ev.faces, ev.small, ev.additive))
                kept.append((ev.background, ev.text))
                step()
        # Pass 1b: the same pieces followed from the end of the shot, so a character hidden behind
        # another at the start keeps its own track (`backtrack`).
        both = self._both_ways(track_labels, tracked, derived, search)

        def frame_tracks(labels: list[NDArray[np.uint8]]) -> list[FrameTracks]:
            out = []
            for labels_small, (shift, faces, small, additive) in zip(labels, seen_frames, strict=True):
                kinds = self._kinds(labels_small, small, additive)
                out.append(FrameTracks(labels_small, shift, faces, {k for k, v in kinds.items() if v == "effect"}, small))
            return out

        # Pass 2: pieces that are one character become one track for the whole shot.
        gap = max(2, round(0.012 * max(fg_small.shape)))
        pieces = frame_tracks(both)
        mapping = group_tracks(pieces, gap=gap)
        if both is not track_labels:
            # The both-ways tracks grouped must not absorb a character the forward tracks grouped kept
            # apart from another in one frame (a swap the backward pass mends is no absorption).
            forward = frame_tracks(track_labels)
            forward_mapping = group_tracks(forward, gap=gap)
            min_pixels = max(16, round(self.min_object_area * track_labels[0].size))
            if joins_apart([relabel(f.labels, forward_mapping) for f in forward],
                           [relabel(p.labels, mapping) for p in pieces], min_pixels):
                pieces, mapping = forward, forward_mapping
        # A character is an effect when most of its appearances were almost only added light.
        seen: dict[int, list[bool]] = {}
        for ft in pieces:
            for t in (int(v) for v in np.unique(ft.labels) if v):
                seen.setdefault(mapping[t], []).append(t in ft.effect_like)
        effect_groups = {g for g, flags in seen.items() if float(np.mean(flags)) > 0.5}
        still = still_characters(pieces, mapping, times=times)  # parts of these never moved: judged from the picture
        text_id = min(255, max(mapping.values(), default=0) + 1)
        texts = steady_text([t for _, t in kept])

        # Burnt-in text at model scale: kept out of the characters by grouping and by the held parts.
        texts_small = [resize_mask(t, ft.labels.shape) if t is not None else None for t, ft in zip(texts, pieces, strict=True)]

        def whole(i: int) -> Labels:
            return whole_characters(pieces[i], mapping, texts_small[i], kept[i][0], effect_groups, still)

        with ThreadPoolExecutor(workers) as pool:
            wholes = list(pool.map(whole, range(n)))
        # A part of a character that its nearest drawings hold is not dropped in a few of them.
        wholes = restore_held_parts(
            wholes, [small for _, _, small, _ in seen_frames],
            lambda j, i: rescale_transform(np.linalg.inv(transforms[i]) @ transforms[j], s),
            [{int(g) for g in np.unique(w) if g} - effect_groups for w in wholes], search,
            keep_out=texts_small, background=[b for b, _ in kept], still=still)
        # A hidden character's strip that the tracker gave an id of its own goes to that character.
        wholes = join_hidden_strips(wholes, [small for _, _, small, _ in seen_frames],
                                    [{int(g) for g in np.unique(w) if g} - effect_groups for w in wholes])
        # Two characters' ids exchanged as they crossed are given back, by their colours.
        wholes = unswap_crossings(wholes, [small for _, _, small, _ in seen_frames],
                                  [{int(g) for g in np.unique(w) if g} - effect_groups for w in wholes])
        # One object's regions drawn in another character's colours go to that character.
        wholes = split_shared(wholes, [small for _, _, small, _ in seen_frames],
                              [{int(g) for g in np.unique(w) if g} - effect_groups for w in wholes])
        # A track that is one character and then another is cut where its colours change.
        wholes = cut_changed_tracks(wholes, [small for _, _, small, _ in seen_frames],
                                    [{int(g) for g in np.unique(w) if g} - effect_groups for w in wholes])

        def finish(i: int) -> FrameSegmentation:
            grouped, text = wholes[i], texts[i]
            frame_kinds: dict[int, ObjectKind] = {
                int(g): ("effect" if int(g) in effect_groups else "character") for g in np.unique(grouped) if g}
            labels, conf = _upsample_labels(grouped, frames[i], s)
            if text is not None:
                full = resize_mask(text, labels.shape)
                labels[full] = text_id
                frame_kinds[text_id] = "text"
            return FrameSegmentation(labels=labels, kinds=frame_kinds, confidence=conf)

        # Each frame's whole characters and full-resolution labels depend on the shot's grouping
        # alone, not on each other: they run on every core (the guided filter at 1080p releases the
        # GIL), in frame order; results are the serial loop's.
        with ThreadPoolExecutor(workers) as pool:
            return results_in_order([pool.submit(finish, i) for i in range(n)], step)

    def _both_ways(self, labels: list[NDArray[np.uint8]], tracked: list[TrackedFrame],
                   derived: list[tuple[int, Matrix | None] | None], search: int) -> list[NDArray[np.uint8]]:
        """The forward labels reconciled with a backward pass over the tracked frames; held and flash
        frames then take their source frame's result, as they took its forward labels."""
        if not self.backtrack or len(tracked) < 2:
            return labels
        backward = track_backward(tracked, labels[tracked[-1].index], search)
        min_pixels = max(16, round(self.min_object_area * labels[0].size))
        both = reconcile([labels[f.index] for f in tracked], backward, min_pixels)
        if both is None:
            return labels
        out = list(labels)
        for f, lab in zip(tracked, both, strict=True):
            out[f.index] = lab
        for i, how in enumerate(derived):
            if how is not None:
                source, m = how
                size = out[i].shape[::-1]
                out[i] = out[source] if m is None else np.asarray(
                    cv2.warpAffine(out[source], m, size, flags=cv2.INTER_NEAREST), np.uint8)
        return out

    def _static_foreground(self, plate: Image) -> NDArray[np.uint8]:
        """Foreground of a still picture from static cues (`models.classical.static`), by GrabCut."""
        return grabcut(plate, static_evidence(plate, self._detect_faces(plate)), iterations=4)

    def _face_seeds(self, small: Image, evidence: NDArray[np.uint8],
                    faces: Sequence[tuple[int, int, int, int]] | None = None) -> list[tuple[int, int, int, int]]:
        """Faces (detected here unless given) are sure foreground, their head probable foreground
        even over supported background (a still head is seen alike in every frame), the body below
        them probable foreground where undecided (a box must not override evidence that knows better)."""
        if faces is None:
            faces = self._detect_faces(small)  # safe from the frame threads: detect serialises itself
        head, body = face_priors(faces, small.shape)
        evidence[head & (evidence != cv2.GC_FGD)] = cv2.GC_PR_FGD
        evidence[body & (evidence == cv2.GC_PR_BGD)] = cv2.GC_PR_FGD
        for x, y, fw, fh in faces:
            evidence[y + fh // 6 : y + fh - fh // 6, x + fw // 6 : x + fw - fw // 6] = cv2.GC_FGD
        return [(int(x), int(y), int(fw), int(fh)) for x, y, fw, fh in faces]

    def _detect_faces(self, image: Image) -> list[tuple[int, int, int, int]]:
        """The cascade's faces; without it (a fresh install) faces from pairs of eyes anywhere in the
        picture (`eyes.eye_pair_faces`), taken the same way: carried through the shot, GrabCut's seeds
        (a character that hardly moves is found by its face), then the face rules that split blobs."""
        if self.faces.available:
            return self.faces.detect(image)
        return eye_pair_faces(image, _not_text(image))

    def _eye_pairs(self, image: Image) -> tuple[list[tuple[int, int, int, int]], list[tuple[int, int, int, int]]]:
        """`eyes.eye_pair_looks` on ``image`` outside its burnt-in text."""
        return eye_pair_looks(image, _not_text(image))

    # -- frame level -----------------------------------------------------------------------------

    def _frame_mask(
        self, small: Image, frame: Image, model: BackgroundModel, i: int, t: Matrix, shape: tuple[int, ...],
        s: float, static_fg: NDArray[np.uint8] | None, faces: Sequence[tuple[int, int, int, int]] | None = None,
    ) -> _FrameEvidence:
        ref = warp_to_frame(model.plate, t, shape, s)
        support, ok = model.support(small, t, i)
        d = difference(small, ref)
        thr = robust_threshold(d[ok]) if ok.any() else 1e9
        # Foreground: what few other frames agree with (it moved) and what differs from the plate,
        # unless it is only light added over the plate (an effect: the effects stage's business).
        add = additive_strength(small, ref)
        moving = (support < 0.4) & (d > 10.0) & ok & (add < 0.5)
        evidence = np.full(small.shape[:2], cv2.GC_PR_BGD, np.uint8)
        # Sure background: well supported and away from anything that is not. (Also requiring
        # plate agreement near characters was tried: it cut away burnt-in character parts.)
        far = cv2.dilate(((support < 0.6) & ok).astype(np.uint8), K3, iterations=4) == 0
        evidence[far & ok] = cv2.GC_BGD
        prob = np.asarray(cv2.morphologyEx(moving.astype(np.uint8), cv2.MORPH_OPEN, K3), np.uint8)
        # A flat-coloured character that moves less than its own width agrees with itself from
        # frame to frame: only its edges move. Its hull is probable foreground; GrabCut decides.
        evidence[hulls(prob, self.min_object_area) > 0] = cv2.GC_PR_FGD
        evidence[prob > 0] = cv2.GC_PR_FGD
        sure = cv2.erode((moving & (support < 0.2) & (d > thr)).astype(np.uint8), K3) > 0
        evidence[sure] = cv2.GC_FGD
        # The plate seen through a character (between an arm and the body) is a hole to keep open.
        background = (support >= 0.6) & ok & (d <= 10.0)
        if static_fg is not None:
            warped = warp_to_frame(static_fg, t, shape, s, cv2.INTER_NEAREST) > 0
            evidence[warped & (evidence != cv2.GC_FGD)] = cv2.GC_PR_FGD
            background &= ~warped  # a still character is in the plate: agreement says nothing
        found = self._face_seeds(small, evidence, faces)
        if static_fg is None:
            # Hulls and head/body boxes take in background a character stands in front of for
            # most of the shot (sky above a head, ground between legs); where its colour is the
            # background's and not one the moving characters are drawn in, GrabCut starts it as
            # background, so its foreground colour model is not taught the sky.
            seen_bg = model.background_colour(small) & model.dominant(small, t, i)
            evidence[(evidence == cv2.GC_PR_FGD) & seen_bg] = cv2.GC_PR_BGD
        text = text_mask(frame)
        fg = grabcut(small, evidence, iterations=2)
        # Background a plate never saw (between close heads, under a glow) is open to the border,
        # not enclosed by a character's line art; it stays out, and no hole filling takes it back.
        open_bg = unenclosed(fg, small) & (evidence != cv2.GC_FGD)
        open_bg |= streaks(np.asarray(fg * ~open_bg, np.uint8))
        fg[open_bg] = 0
        return _FrameEvidence(small, fg, add, np.asarray(background | open_bg), found, text if text.any() else None)

    def _kinds(self, labels: Labels, small: Image, additive: NDArray[np.float32]) -> dict[int, ObjectKind]:
        """Objects made almost only of additive brightening (no dark outline) are effects, unless they
        are painted in the drawing's character colours (`painted_parts`: a pale limb over a dark wall)."""
        ids = [int(oid) for oid in np.unique(labels) if oid]
        light = {oid for oid in ids if float((additive[labels == oid] > 0.5).mean()) > 0.85}
        light -= painted_pieces(small, labels, light)
        return {oid: ("effect" if oid in light else "character") for oid in ids}


def estimate_shot_camera(
    frames: Sequence[Image], long_side: int = 480, times: Sequence[int] | None = None, refs: int = 16,
    tick: Callable[[], None] | None = None,
) -> tuple[list[Matrix], list[NDArray[np.bool_]] | None]:
    """The camera of a shot before anything is known of its foreground, and what moved against it.

    Two passes: a first estimate, a background model through it, then the camera estimated again
    with what moved against that model (at model scale: likely foreground) kept out. (Camera error
    on the demo generator: < 1 px on 10 of 12 shots, from 8 of 12 with the first pass alone.) A
    still shot (nothing departs from the plate) keeps its first estimate and has no moving pixels.
    ``tick``: called after each frame of each pass; what it raises stops the estimate."""
    n = len(frames)
    transforms = estimate_camera(frames, long_side, times=times, tick=tick)
    s = model_scale(frames[0].shape, long_side)
    model = BackgroundModel(frames, transforms, s, refs)
    if model.static or n < 3:
        return transforms, None
    moved = []
    for i in range(n):
        moved.append(model.moving(resize(frames[i], s), transforms[i], i))
        if tick is not None:
            tick()
    return estimate_camera(frames, long_side, moved, times=times, tick=tick), moved


@dataclass
class _FrameEvidence:
    """What pass 1 learns of one frame (model scale; text at its own working scale)."""

    small: Image
    fg: NDArray[np.uint8]
    additive: NDArray[np.float32]
    background: NDArray[np.bool_]
    faces: list[tuple[int, int, int, int]]
    text: NDArray[np.bool_] | None


def _no_new_objects(labels: NDArray[np.uint8], carried: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """``labels`` with each piece whose id ``carried`` does not hold given to the carried object it
    overlaps most (a character's part the noise cut off), or to the background when it overlaps none."""
    out = labels.copy()
    known = np.unique(carried)
    for b in np.unique(labels):
        if b == 0 or b in known:
            continue
        piece = labels == b
        under = np.bincount(carried[piece], minlength=256)
        under[0] = 0
        out[piece] = int(np.argmax(under)) if under.any() else 0
    return out


def _upsample_labels(labels_small: Labels, frame: Image, s: float) -> tuple[Labels, NDArray[np.float32]]:
    """Full-resolution labels and confidence; edges follow the frame via a guided filter."""
    h, w = frame.shape[:2]
    soft = guided_upsample((labels_small > 0).astype(np.float32), frame, s)
    conf = np.abs(2.0 * soft - 1.0).astype(np.float32)
    if not labels_small.any():
        return np.zeros((h, w), np.uint8), conf
    # Grow ids a little so the refined edge (which may move outward) still finds an id.
    grown = cv2.dilate(labels_small, K3, iterations=2)
    grown = np.where(labels_small > 0, labels_small, grown)
    ids = cv2.resize(grown, (w, h), interpolation=cv2.INTER_NEAREST)
    return np.where(soft > 0.5, ids, 0).astype(np.uint8), conf


class BothWaysSegmenter(ClassicalSegmenter):
    """The weight-free segmenter with the backward tracking pass on (`ClassicalSegmenter` ``backtrack``).

    A menu choice, not the default: a character hidden behind another at a shot's start keeps its own
    object, so its name reaches more shots, but on held-out seeds it costs per-character mask IoU more
    often than it gains identity (docs/results.md, issue #9, "On the merged main (stop 24)").
    """

    name: ClassVar[str] = "bothways"

    def __init__(self, **options: Any) -> None:
        options["backtrack"] = True
        super().__init__(**options)


def _not_text(image: Image) -> NDArray[np.bool_]:
    """Where ``image`` holds no burnt-in text (grown by two pixels): a subtitle's letter counters are
    dark blobs in white, level, as eyes are, so eye pairs are not looked for there."""
    text = resize_mask(text_mask(image), image.shape)
    return np.asarray(cv2.dilate(text.astype(np.uint8), K3, iterations=2) == 0)
