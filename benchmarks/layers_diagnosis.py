"""Where the matte and effect errors on generated shots over real anime backgrounds come from.

Calls the weight-free matter and effect separator directly with the true character masks (what
``celstudio eval layer-quality --masks truth`` measures, without the store) and prints per seed:

- effects: the separator's IoU at strength 0.25 (per frame, averaged, as the eval), the same IoU
  against the *visible* truth (effect pixels where the light changes the frame by >= 10 levels;
  light added over white saturates and leaves no trace), the IoU ignoring frames where truth and
  layer are both specks (``ignoring_tiny``, as the eval), the IoU pooled over the normal frames
  (``effects_iou_pooled``, as the eval), the rebuild error of the frame (mean absolute,
  levels) from the exact under-layer plus the RGBA light layer (and without it), and two ceilings against the exact
  layer under the light (true plate and true characters): ``ceiling_luminance``, the strength read
  from the luminance gain (one gain for every colour, the separator before the RGBA layer), and
  ``ceiling_colour``, the RGBA light layer (colour per effect, strength projected on it);
- effects by kind (``by_kind``): each true effect pixel (strength >= 0.25, normal frames) goes to the
  effect kind that adds most light to it (glow, sparks, speed lines radial / horizontal) and to where
  it lies: ``over`` a character (true alpha > 0.5), ``near`` (within 4 px outside) or ``far``; per kind
  and place the missed and the true pixels, and the false ones (layer >= 0.25 over no truth) per place;
- mattes: SAD (/1000) split into too-high and too-low alpha per region (outline band, interior,
  hair), and the interior SAD that comes from the truth's own alpha below 1 inside the outline
  (several shared PNGs hold 0.97-0.99 there; an artist's cut-out has 1), and the total against the
  truth with a solid interior.

Usage: ``python benchmarks/layers_diagnosis.py [--seeds 101,202,404,505,606] [--skip-mattes | --skip-effects]``.
Needs ../shared/data/anime. Seeds 505 and 606 were never used for tuning.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2

from app.demo.anime_shots import AnimeBackdropVideo, generate_anime_shots
from app.demo.effects import glow, sparks, speed_lines
from app.demo.generator import GeneratedFrame
from app.eval.layer_quality import default_data, light_measures, pool_rebuild, solid_interior_sad
from app.eval.metrics import effect_iou, matte_regions
from models.classical.effect_light import EffectLight, separate_light
from models.classical.effects import ClassicalEffectSeparator, additive_strength, flash_strength
from models.classical.matting import ClassicalMatter

VISIBLE = 10  # levels of change that make added light visible


def _mean(values: list[float]) -> float:
    return round(float(np.mean(values)), 3) if values else float("nan")


def measure_effects(f: GeneratedFrame, light: EffectLight, fx: dict[str, list[float]]) -> None:
    """The effect separator's figures on one generated frame, appended to ``fx``."""
    m = light.strength
    under = f.alpha[..., None] * f.foreground.astype(np.float32) + (1 - f.alpha[..., None]) * f.clean
    under8 = np.clip(under + 0.5, 0, 255).astype(np.uint8)
    if f.kind == "normal":
        seen = np.abs(f.image.astype(np.float32) - under8).max(axis=2) >= VISIBLE
    else:
        seen = np.ones(f.alpha.shape, bool)
    visible = np.where(seen, f.effects, 0.0)
    flash = flash_strength(f.image)
    lum = np.full(f.alpha.shape, flash, np.float32) if flash > 0 else additive_strength(f.image, under8, 140.0)
    col = lum if flash > 0 else separate_light(f.image, under8, lum).strength
    for key, pred, truth in (("separator", m, f.effects), ("separator_visible", m, visible),
                             ("ceiling_luminance", lum, f.effects), ("ceiling_luminance_visible", lum, visible),
                             ("ceiling_colour", col, f.effects), ("ceiling_colour_visible", col, visible)):
        v = effect_iou(pred, truth)
        if v is not None:
            fx[key].append(v)
    for key, value in light_measures(f, m, light.colour).items():
        if value is not None:
            fx[key.replace("effects_iou", "separator")].append(value)


def kind_strengths(video: AnimeBackdropVideo, f: GeneratedFrame) -> dict[str, np.ndarray]:
    """Each effect kind's strength in frame ``f``, as the generator adds it."""
    plan = video.shots[f.shot]
    local = f.index - plan.start
    w, h = video.width, video.height
    out: dict[str, np.ndarray] = {}
    for spec in plan.effects:
        env = spec.envelope(local)
        if env <= 0:
            continue
        alpha = f.object_alpha[spec.target]
        if spec.kind == "glow":
            s, name = glow(alpha, env, local), "glow"
        elif spec.kind == "sparks":
            ys, xs = np.nonzero(alpha > 0.5)
            origin = (float(xs.mean()), float(ys.mean())) if xs.size else (w / 2, h / 2)
            s, name = sparks(spec, local, w, h, origin, env), "sparks"
        else:
            s, name = speed_lines(spec, local, w, h, env), "speed_lines_" + ("radial" if spec.radial else "horizontal")
        out[name] = np.maximum(out.get(name, 0.0), s)
    return out


def count_by_kind(video: AnimeBackdropVideo, f: GeneratedFrame, strength: np.ndarray, counts: dict[str, int]) -> None:
    """Missed, true and false effect pixels of a normal frame by kind and place (``by_kind``), added to ``counts``."""
    if f.kind != "normal":
        return
    pred, truth = strength >= 0.25, f.effects >= 0.25
    over = f.alpha > 0.5
    near = (cv2.dilate(over.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0) & ~over
    kinds = kind_strengths(video, f)
    names = list(kinds)
    main = np.stack([kinds[n] for n in names]).argmax(axis=0) if names else None
    for place, where in (("over", over), ("near", near), ("far", ~over & ~near)):
        counts[f"false_{place}"] = counts.get(f"false_{place}", 0) + int((pred & ~truth & where).sum())
        for j, name in enumerate(names):
            mine = truth & where & (main == j)
            counts[f"{name}_{place}_true"] = counts.get(f"{name}_{place}_true", 0) + int(mine.sum())
            counts[f"{name}_{place}_missed"] = counts.get(f"{name}_{place}_missed", 0) + int((mine & ~pred).sum())


def diagnose(seed: int, mattes: bool, effects: bool = True) -> dict[str, object]:
    clips, chars = default_data()
    video = generate_anime_shots(seed, clips_dir=clips, character_dir=chars, width=480, height=270, shots=2,
                                 frames_per_shot=16)
    fx: dict[str, list[float]] = {k: [] for k in (
        "separator", "separator_visible", "separator_ignoring_tiny", "ceiling_luminance", "ceiling_luminance_visible",
        "ceiling_colour", "ceiling_colour_visible", "rebuild_sum", "rebuild_sum_without", "rebuild_values",
        "pooled_inter", "pooled_union")}
    sad: dict[str, float] = {}
    by_kind: dict[str, int] = {}
    frames_done = 0
    for shot in range(len(video.shots)):
        start = video.shots[shot].start
        frames = [video.frame(start + k) for k in range(video.shots[shot].length)]
        images, masks = [f.image for f in frames], [f.labels > 0 for f in frames]
        lights = ClassicalEffectSeparator().separate_shot_light(images, masks) if effects else [None] * len(frames)
        alphas = ClassicalMatter().matte_shot(images, masks) if mattes else [None] * len(frames)
        for f, light, a in zip(frames, lights, alphas, strict=True):
            if light is not None:
                measure_effects(f, light, fx)
                count_by_kind(video, f, light.strength, by_kind)
            if a is not None:
                frames_done += 1
                d = a.astype(np.float64) - f.alpha
                for name, where in matte_regions(f.alpha.astype(np.float64)).items():
                    sad[f"{name}_too_high"] = sad.get(f"{name}_too_high", 0.0) + float(d[where & (d > 0)].sum())
                    sad[f"{name}_too_low"] = sad.get(f"{name}_too_low", 0.0) - float(d[where & (d < 0)].sum())
                    if name == "interior":
                        sad["interior_truth_below_1"] = sad.get("interior_truth_below_1", 0.0) + float(
                            (1.0 - f.alpha[where]).sum())
                sad["total"] = sad.get("total", 0.0) + float(np.abs(d).sum())
                sad["total_solid_interior"] = sad.get("total_solid_interior", 0.0) + 1000.0 * solid_interior_sad(a, f.alpha)
    rebuild = pool_rebuild(fx)  # type: ignore[arg-type]
    out: dict[str, object] = {"seed": seed}
    if effects:
        out.update({"effect_iou": {k: _mean(v) for k, v in fx.items()}, **rebuild, "by_kind": dict(sorted(by_kind.items()))})
    if frames_done:
        out["matte_sad"] = {k: round(v / 1000.0 / frames_done, 4) for k, v in sorted(sad.items())}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="101,202,404,505,606")
    skip = ap.add_mutually_exclusive_group()
    skip.add_argument("--skip-mattes", action="store_true", help="effects only (seconds instead of a minute per seed)")
    skip.add_argument("--skip-effects", action="store_true", help="mattes only")
    args = ap.parse_args()
    for seed in (int(v) for v in args.seeds.split(",")):
        print(diagnose(seed, not args.skip_mattes, not args.skip_effects), flush=True)


if __name__ == "__main__":
    main()
