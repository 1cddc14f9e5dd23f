"""The segment stage registers what it finds: each per-shot track becomes a project object.

A new shot's tracks are recognised among the objects of the shots already registered by appearance
(`models.classical.identity`: colour palette and coarse shape, plus the annotator's DINOv2/CLIP crop
embeddings when a deep annotator is selected); the others become new objects named "Character N"
(or "Effect N", "Prop N"); stray pieces (tiny, and brief or stuck to the frame's edge) get no object
(`stray_tracks`). Burnt-in text of every shot is one object. Descriptors are kept per shot
in the record ``identity`` (at the shot's first frame), so later shots compare against every earlier
appearance of a character, not only its first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from app.store import Project, Shot
from app.store.manifest import TrackLink
from models.base import Image, Labels
from models.classical.character_change import change_of_character, drawing_descriptors
from models.classical.identity import (
    LINK_THRESHOLD,
    MARGIN,
    Embedder,
    FrameColours,
    TrackDescriptor,
    distance,
    link_tracks,
    track_descriptor,
)
from models.classical.tracks import label_ids

RECORD = "identity"
SAMPLE_FRAMES = 12  # frames of a shot decoded to describe its tracks
# A stray (see `stray_tracks`) is at most this share of the frame, on average where it is present ...
STRAY_AREA = 0.01
# ... and present in under this share of the shot's drawings, or touching the frame's edge on most of them.
STRAY_PRESENCE = 0.5
# A brief track under this share of the size of its shot's whole tracks is a piece (`piece_tracks`); an
# object known only from pieces is a fragment (`fragment_objects`): only a brief track is linked to it.
PIECE_AREA = 0.5


def track_kinds(labels: Sequence[Labels], kinds: Sequence[dict[int, str]]) -> dict[int, str]:
    """Each track of a shot and its kind (the kind the segment stage gave it on most frames)."""
    votes: dict[int, Counter[str]] = {}
    for lab, k in zip(labels, kinds, strict=True):
        for t in label_ids(lab):
            votes.setdefault(t, Counter())[str(k.get(t, "character"))] += 1
    return {t: c.most_common(1)[0][0] for t, c in sorted(votes.items())}


def stray_tracks(labels: Sequence[Labels], found: dict[int, str]) -> set[int]:
    """Tracks that are not a thing anyone would name: tiny, and either brief or stuck to the frame's edge.

    The segment stage leaves such pieces where the background model is unsure (a pole or a patch of sky
    cut by the frame's edge, a fragment of a character for a frame or two). As objects they fill the
    list with "Character 3..5" that the user must delete one by one, and datasets with unconfirmed
    crops of background, so they get no object: their pixels stay background in ``masks``, they stay
    in ``segmentation``, and a click on one makes it an object if it was wanted after all. Burnt-in
    text is never a stray (it is left out of datasets and painted out of plates as a whole).
    """
    n = len(labels)
    if not n:
        return set()
    size = int(np.asarray(labels[0]).size)
    present: Counter[int] = Counter()
    area: Counter[int] = Counter()
    edge: Counter[int] = Counter()
    for frame_labels in labels:
        lab = np.asarray(frame_labels)
        counts = np.bincount(lab.ravel(), minlength=256)
        for i in np.flatnonzero(counts[1:]) + 1:
            present[int(i)] += 1
            area[int(i)] += int(counts[i])
        edge.update(int(i) for i in np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])))
    out: set[int] = set()
    for t, kind in found.items():
        if kind == "text" or not present[t]:
            continue
        tiny = area[t] / present[t] < STRAY_AREA * size
        brief = present[t] < STRAY_PRESENCE * n
        stuck = edge[t] > STRAY_PRESENCE * present[t]
        if tiny and (brief or stuck):
            out.add(t)
    return out


def brief_tracks(labels: Sequence[Labels], tracks: Sequence[int]) -> set[int]:
    """Tracks on screen in under `STRAY_PRESENCE` of the shot's drawings: linked after the others
    (`models.classical.identity.link_tracks`)."""
    present: Counter[int] = Counter()
    for frame_labels in labels:
        present.update(label_ids(frame_labels))
    return {t for t in tracks if present[t] < STRAY_PRESENCE * len(labels)}


def piece_tracks(labels: Sequence[Labels], found: dict[int, str]) -> set[int]:
    """Brief tracks (`brief_tracks`) under `PIECE_AREA` of the size of the shot's other tracks (the
    median, where present, of the tracks that are neither brief, tiny nor text): a piece of a character
    the segment stage split off for a drawing or two, not someone passing through (who is as large as
    the others). See `fragment_objects`."""
    present: Counter[int] = Counter()
    area: Counter[int] = Counter()
    for frame_labels in labels:
        counts = np.bincount(np.asarray(frame_labels).ravel(), minlength=256)
        for t in np.flatnonzero(counts[1:]) + 1:
            present[int(t)] += 1
            area[int(t)] += int(counts[t])
    if not labels:
        return set()
    size = {t: area[t] / present[t] / np.asarray(labels[0]).size for t in found if present[t]}
    brief = brief_tracks(labels, list(size))
    whole = [a for t, a in size.items() if t not in brief and found[t] != "text" and a >= STRAY_AREA]
    if not whole:
        return set()
    return {t for t in brief if found[t] != "text" and size[t] < PIECE_AREA * float(np.median(whole))}


def _object_of(project: Project, link: TrackLink) -> int:
    """The object a track link mostly is (over its shot's frames); 0 for none."""
    end = project.shot_of(link.shot).end
    span = Counter[int]()
    for i, (start, obj) in enumerate(link.pieces):
        stop = link.pieces[i + 1][0] if i + 1 < len(link.pieces) else end
        span[obj] += stop - start
    return span.most_common(1)[0][0] if span else 0


def known_descriptors(project: Project, kind: str, exclude_shot: int) -> dict[int, list[TrackDescriptor]]:
    """Descriptors of every registered track of other shots, by the object it mostly is; a track that
    holds another character for part of its shot (`split_parts`) describes that object there too."""
    records = project.layers.read_records(RECORD)
    kinds = project.objects.kinds()
    out: dict[int, list[TrackDescriptor]] = {}
    for link in project.objects.tracks():
        if link.shot == exclude_shot:
            continue
        record = records.get(link.shot) or {}
        data = record.get("tracks", {}).get(str(link.track))
        if not data:
            continue
        obj = _object_of(project, link)
        if obj and kinds.get(obj) == kind:
            out.setdefault(obj, []).append(TrackDescriptor.from_json(data))
        part = record.get("parts", {}).get(str(link.track))
        if part and (other := link.object_at(int(part[0]))) not in (0, obj) and kinds.get(other) == kind:
            out.setdefault(other, []).append(TrackDescriptor.from_json(part[2]))
    return out


def fragment_objects(project: Project, exclude_shot: int) -> set[int]:
    """Objects known only from pieces (`piece_tracks`: brief and small beside their shot's other tracks)
    of other shots. Records from before pieces were kept have none."""
    records = project.layers.read_records(RECORD)
    only: dict[int, bool] = {}
    for link in project.objects.tracks():
        if link.shot == exclude_shot:
            continue
        piece = link.track in (records.get(link.shot) or {}).get("pieces", [])
        if obj := _object_of(project, link):
            only[obj] = only.get(obj, True) and piece
    return {obj for obj, yes in only.items() if yes}


@dataclass
class Halves:
    """A track that holds one character, then another (`models.classical.character_change`): the
    descriptor of its main part (the one with more drawings) and of the other part, on frames
    [first, end) of the shot."""

    main: TrackDescriptor
    other: TrackDescriptor
    first: int
    end: int


def split_parts(
    project: Project, shot: Shot, found: dict[int, str], whole: Collection[int], images: Sequence[Image],
    sampled: Sequence[Labels], picks: Sequence[int], embed: Embedder | None, colours: dict[int, FrameColours],
) -> dict[int, Halves]:
    """The shot's whole character tracks that change character once (`change_of_character` on the sampled
    drawings ``images``/``sampled``, drawings ``picks`` of the shot). The main part's descriptor is the
    track's (a track described from both parts is near neither character); the other part may be
    linked to its own character (`part_links`), or else is nothing's evidence."""
    keys = project.drawing_keys
    drawings = [f for f in range(shot.start, shot.end) if int(keys[f]) == f]
    if len(drawings) < max(picks, default=0) + 1:  # labels not of this project's drawings (a replay)
        drawings = list(range(shot.start, shot.end))
    out: dict[int, Halves] = {}
    for t in sorted(whole):
        change = change_of_character(drawing_descriptors(images, sampled, t, colours)) if found[t] == "character" else None
        if change is None:
            continue
        before, after = change
        cut = after[0]
        sides = [(0, cut), (cut, len(images))]
        main, other = sides if len(before) >= len(after) else sides[::-1]  # main: more drawings, earlier on a tie
        parts = [track_descriptor(images[a:b], sampled[a:b], t, embed, {i - a: c for i, c in colours.items() if a <= i < b})
                 for a, b in (main, other)]
        if parts[0] is None or parts[1] is None:
            continue
        # The cut lies between the sampled drawings picks[cut - 1] and picks[cut]: halfway, in frames.
        boundary = drawings[(picks[cut - 1] + picks[cut] + 1) // 2]
        first, end = (shot.start, boundary) if other[0] == 0 else (boundary, shot.end)
        out[t] = Halves(parts[0], parts[1], first, end)
    return out


def part_links(halves: dict[int, Halves], links: dict[int, int | None], known: dict[int, list[TrackDescriptor]],
               whole: Collection[int], fragments: Collection[int]) -> dict[int, tuple[int, int, int]]:
    """The known object each split track's other part is (the nearest, under `LINK_THRESHOLD`), on that
    part's frames: track -> (first frame, end frame, object). Not the track's own object nor a fragment,
    and not an object another whole track of the shot is on any of those frames (two tracks of a drawing
    are two characters): then the part is nothing's evidence, and the track its link throughout."""
    wanted: dict[int, tuple[int, int, int]] = {}
    for t, h in halves.items():
        near = [(min(distance(h.other, x) for x in xs), o) for o, xs in known.items()
                if o != links.get(t) and o not in fragments]
        if near and (best := min(near))[0] < LINK_THRESHOLD:
            wanted[t] = (h.first, h.end, best[1])

    def holds(t: int, obj: int, first: int, end: int) -> bool:
        """Whether track ``t`` is ``obj`` on some frame of [first, end), its wanted part included."""
        if t in wanted:
            f, e, o = wanted[t]
            if o == obj and f < end and first < e:
                return True
            return links.get(t) == obj and (first < f or e < end)  # its link outside its part
        return links.get(t) == obj

    return {t: (f, e, o) for t, (f, e, o) in wanted.items()
            if not any(holds(t2, o, f, e) for t2 in whole if t2 != t)}


def register_shot(
    project: Project, shot: Shot, labels: Sequence[Labels], kinds: Sequence[dict[int, str]],
    frames: Sequence[Image], embed: Embedder | None = None, *, background: set[int] | None = None,
) -> dict[int, int]:
    """Link the tracks of ``shot`` (``labels``/``kinds``/``frames`` cover the whole shot) to project
    objects, creating new ones where no known object looks the same; returns track -> object.
    ``background``: tracks the segment stage found to be pieces of the shot's background
    (`models.classical.background_pieces`): like strays, they get no object."""
    found = track_kinds(labels, kinds)
    n = len(labels)
    picks = sorted(set(np.linspace(0, n - 1, min(SAMPLE_FRAMES, n)).round().astype(int).tolist()))
    images = [np.asarray(frames[i]) for i in picks]
    sampled = [np.asarray(labels[i]) for i in picks]
    descriptors: dict[int, TrackDescriptor] = {}
    colours: dict[int, FrameColours] = {}  # every track is described on the same sampled frames
    whole = set(found) - brief_tracks(labels, list(found))
    halves = split_parts(project, shot, found, whole, images, sampled, picks, embed, colours)
    for t in found:
        if t in halves:
            descriptors[t] = halves[t].main
            continue
        d = track_descriptor(images, sampled, t, embed if found[t] == "character" else None, colours)
        if d is None:  # too small on every sampled frame: describe it from all its frames
            d = track_descriptor(frames, labels, t)
        if d is not None:
            descriptors[t] = d
    record = project.layers.read_record(RECORD, shot.start) or {}
    stored = dict(record.get("tracks", {}))
    # A re-run of the segment stage keeps a track's link (and the user's edits of it) while the id still
    # describes the same thing; when the shot changed or another backend numbered it differently, the
    # id means something else now and is linked afresh.
    moved = [
        t for t in found
        if project.objects.track(shot.start, t) is not None and not _same(stored.get(str(t)), descriptors.get(t))
    ]
    # What the moved ids were before stays a known appearance of their objects, so a mere renumbering
    # links each track back to its object (and keeps the user's names).
    before: dict[int, list[TrackDescriptor]] = {}
    for t in moved:
        link, old = project.objects.track(shot.start, t), stored.get(str(t))
        if link is not None and old is not None and (obj := link.object_at(shot.start)):
            before.setdefault(obj, []).append(TrackDescriptor.from_json(old))
    project.objects.forget_tracks(shot.start, moved)
    new = [t for t in found if project.objects.track(shot.start, t) is None]
    stored.update({str(t): d.to_json() for t, d in descriptors.items()})
    pieces = sorted(piece_tracks(labels, found) | {t for t in record.get("pieces", []) if t not in found})
    parts = {k: v for k, v in record.get("parts", {}).items() if int(k) not in found}
    parts.update({str(t): [h.first, h.end, h.other.to_json()] for t, h in halves.items()})
    project.layers.write_record(RECORD, shot.start, {"tracks": stored, "pieces": pieces, "parts": parts})
    if not new:
        return {t.track: t.object_at(shot.start) for t in project.objects.tracks(shot.start)}

    strays = stray_tracks(labels, {t: found[t] for t in new})
    strays |= {t for t in background or () if t in new and found[t] == "character"}
    links: dict[int, int | None] = dict.fromkeys(strays, 0)
    brief = brief_tracks(labels, new)
    fragments = fragment_objects(project, shot.start)
    spans: dict[int, tuple[int, int, int]] = {}
    for kind in sorted({found[t] for t in new if t not in links}):
        mine = [t for t in new if found[t] == kind and t not in links]
        if kind == "text":
            # Burnt-in subtitles and captions are one object across the video: they are painted
            # out and left out of datasets together, and nobody names lines of dialogue.
            text = project.objects.ids_of_kind("text")
            if not text:
                created = project.objects.register_shot(shot.start, {mine[0]: "text"})
                text = [created[mine[0]]]
            links.update({t: text[0] for t in mine})
            continue
        known = known_descriptors(project, kind, shot.start)
        kinds_of = project.objects.kinds()
        for obj, descs in before.items():
            if kinds_of.get(obj) == kind:
                known.setdefault(obj, []).extend(descs)
        links.update(link_tracks({t: descriptors[t] for t in mine if t in descriptors}, known, brief=brief,
                                 fragments=fragments))
        spans.update(part_links({t: halves[t] for t in mine if t in halves}, links, known,
                                {t for t in mine if t not in brief}, fragments))
    result = project.objects.register_shot(shot.start, {t: found[t] for t in new}, links, spans)
    return join_objects(project, shot, {t: descriptors[t] for t in new if t in descriptors and result.get(t)}, found,
                        brief=brief, fragments=fragments)


def join_objects(project: Project, shot: Shot, linked: dict[int, TrackDescriptor], found: dict[int, str], *,
                 brief: Collection[int] = (), fragments: Collection[int] = ()) -> dict[int, int]:
    """Merge objects that this shot's tracks show to be one character; returns track -> object.

    Shot after shot, a character can become two objects when its first two appearances differ too much
    (seen from behind, then from the front); a later appearance close to both says they are one. So a
    track just linked to object A that is also within the threshold of an object B, and not `MARGIN`
    nearer A than B (A's appearances in other shots; a new A has none), is evidence that A and B are
    one character, unless they were ever on screen together in one shot (two tracks of a
    shot are two characters) or the user named both (the user decides then). The older id is kept, and
    the merge is registration's, not on the user's undo stack. A track not in ``brief`` is no evidence
    for an object in ``fragments`` (`models.classical.identity.link_tracks`: it is not linked to one
    either).
    """
    objects = project.objects

    def current(t: int) -> int:
        link = objects.track(shot.start, t)
        return link.object_at(shot.start) if link is not None else 0

    # Every (track, other object) pair under the threshold, nearest first: an object near two of the
    # shot's tracks is the nearer one's character (held-out seed 59 of 46-60: a character's second
    # object, 0.24 from that character's track and 0.27 from another's, joined the other's object,
    # which came first in track order).
    pairs: list[tuple[float, int, int]] = []
    for t, desc in linked.items():
        info_a = objects.get(current(t))
        if info_a is None or info_a.kind != found.get(t) or info_a.kind == "text":
            continue
        known = known_descriptors(project, info_a.kind, shot.start)
        # Near both: a track whose object (seen in other shots) is its clear best, `MARGIN` nearer,
        # says nothing of another object it merely comes under the threshold of.
        own = min((distance(desc, x) for x in known.get(current(t), [])), default=np.inf)
        for b, descs in known.items():
            if b in fragments and t not in brief:
                continue
            if (d := min(distance(desc, x) for x in descs)) < LINK_THRESHOLD and d - own < MARGIN:
                pairs.append((d, t, b))
    for _, t, b in sorted(pairs):
        a = current(t)
        info_a, info_b = objects.get(a), objects.get(b)
        if b == a or info_a is None or info_b is None or info_a.kind != info_b.kind:
            continue
        together: dict[int, set[int]] = {}
        for tl in objects.tracks():
            together.setdefault(tl.shot, set()).update(o for _, o in tl.pieces if o)
        if any({a, b} <= objs for objs in together.values()):
            continue
        if info_a.confirmed and info_b.confirmed:
            continue
        # The user's name wins; otherwise the older object (its automatic name came first).
        keep, absorb = (a, b) if info_a.confirmed or (not info_b.confirmed and a < b) else (b, a)
        objects.merge(keep, absorb, undoable=False)
    return {tl.track: tl.object_at(shot.start) for tl in objects.tracks(shot.start)}


def _same(old: dict[str, object] | None, new: TrackDescriptor | None) -> bool:
    if old is None or new is None:
        return old is None and new is None
    before = TrackDescriptor.from_json(old)  # type: ignore[arg-type]
    if before.whole.shape != new.whole.shape:
        # Stored by a version with other histogram bins: the two cannot be compared, and relinking
        # would drop the user's edits of the track, so the link stays.
        return True
    return distance(before, new) < LINK_THRESHOLD


def annotator_embedder(backend: object) -> Embedder | None:
    """The deep annotator's identity embedding of character crops, when it has one."""
    embed = getattr(backend, "identity_embed", None)
    if embed is None:
        return None

    def run(crops: list[Image]) -> np.ndarray:
        out = embed(crops)
        return np.asarray(out.detach().cpu().numpy() if hasattr(out, "detach") else out, np.float32)

    return run
