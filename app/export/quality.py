"""Choosing the cut-outs worth training on, by the quality signals stage `annotate` stores.

Per (frame, object) the annotations record holds ``quality[object id]`` (see
`models.classical.quality`). Selection by them runs in this order, after the object filters:

1. held frames: one drawing counts once (its first frame), unless every frame is asked for;
2. thresholds: sharpness, truncation, occlusion, a visible face, aesthetic score;
3. best K per character per shot, by aesthetic score, optionally spread over views: a greedy
   farthest-point pick that trades score against distance (in the view descriptor, or the identity
   embedding) from what is already chosen, so 200 near-identical front views do not crowd out the rest.

Every decision is logged with its reason (`Decisions`), for the manifest and the dataset report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

Key = tuple[int, int]  # (frame, object id)


@dataclass
class QualityRules:
    """Thresholds and picks; the defaults keep everything but repeated drawings."""

    min_sharpness: float = 0.0
    max_truncation: float = 1.0
    max_occlusion: float = 1.0
    require_face: bool = False
    min_aesthetic: float = 0.0
    best_k: int = 0
    diverse: bool = False
    every_frame: bool = False

    def active(self) -> bool:
        return self != QualityRules(every_frame=self.every_frame)


@dataclass
class Decisions:
    """Why each (frame, object) was kept or dropped, and the signals it was judged on."""

    reasons: dict[Key, str] = field(default_factory=dict)
    chosen: set[Key] = field(default_factory=set)
    signals: dict[Key, dict[str, Any]] = field(default_factory=dict)

    def drop(self, key: Key, reason: str) -> None:
        self.reasons[key] = reason
        self.chosen.discard(key)

    def keep(self, key: Key, reason: str) -> None:
        self.reasons[key] = reason
        self.chosen.add(key)


def threshold_failure(q: dict[str, Any] | None, rules: QualityRules) -> str | None:
    """The first threshold ``q`` fails, as a reason; None when it passes (or there is nothing to judge)."""
    if q is None:
        if rules.active():
            return "no quality signals (annotate has not run for this frame)"
        return None
    checks = (
        (rules.min_sharpness > 0 and q.get("sharpness", 1.0) < rules.min_sharpness,
         f"blurred: sharpness {q.get('sharpness', 0):.2f} < {rules.min_sharpness:.2f}"),
        (rules.max_truncation < 1 and q.get("truncation", 0.0) > rules.max_truncation,
         f"cut by the frame edge: truncation {q.get('truncation', 0):.2f} > {rules.max_truncation:.2f}"),
        (rules.max_occlusion < 1 and q.get("occlusion", 0.0) > rules.max_occlusion,
         f"hidden: occlusion {q.get('occlusion', 0):.2f} > {rules.max_occlusion:.2f}"),
        (rules.require_face and not q.get("face", False), "no face visible"),
        (rules.min_aesthetic > 0 and q.get("aesthetic", 0.0) < rules.min_aesthetic,
         f"low aesthetic score {q.get('aesthetic', 0):.2f} < {rules.min_aesthetic:.2f}"),
    )
    return next((reason for failed, reason in checks if failed), None)


def _vector(q: dict[str, Any]) -> np.ndarray:
    v = np.asarray(q.get("view") or [], np.float32)
    return v / max(1e-6, float(np.linalg.norm(v))) if v.size else v


def pick_best(candidates: list[Key], signals: dict[Key, dict[str, Any]], k: int, diverse: bool) -> list[Key]:
    """Up to ``k`` of ``candidates``: the best by aesthetic score, or (``diverse``) a greedy pick whose
    gain is score + distance in views to the nearest already chosen (max-min diversity)."""
    if k <= 0 or len(candidates) <= k:
        return list(candidates)
    score = {c: float(signals.get(c, {}).get("aesthetic", 0.0)) for c in candidates}
    if not diverse:
        return sorted(candidates, key=lambda c: (-score[c], c))[:k]
    vectors = {c: _vector(signals.get(c, {})) for c in candidates}
    chosen = [max(candidates, key=lambda c: (score[c], -c[0]))]
    while len(chosen) < k:
        def gain(c: Key) -> float:
            v = vectors[c]
            if not v.size:
                return score[c]
            nearest = min(float(np.linalg.norm(v - vectors[o])) if vectors[o].size == v.size else 1.0 for o in chosen)
            return score[c] + nearest
        rest = [c for c in candidates if c not in chosen]
        chosen.append(max(rest, key=lambda c: (gain(c), -c[0])))
    return chosen
