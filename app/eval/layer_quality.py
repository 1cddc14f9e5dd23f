"""``celstudio eval layer-quality``: are the cut-outs, plates and effect layers worth training on?

Generated shots of the shared RGBA characters over real anime backgrounds (`app.demo.anime_shots`)
go through the pipeline; each layer is compared with the exact truth:

- mattes: the standard matting set (SAD, MSE, gradient, connectivity; `app.eval.metrics`), per-region
  SAD (outline band, interior, hair), SAD against the truth with a solid interior
  (`solid_interior_sad`) and dtSSD flicker through each shot;
- clean plates: PSNR on the pixels the shot reveals somewhere but this frame hides (what stitching
  must recover), PSNR on all revealed pixels, and how exactly the plate's confidence layer marks the
  invented (never revealed) pixels; on the pixels the plate says it invented (``plate_confidence``
  0), PSNR, SSIM, gradient-magnitude error and sharpness against the truth
  (`app.eval.plate_measures`: PSNR alone rewards a blur);
- effects: IoU of the effect layer (strength >= 0.25), also against the *visible* truth (effect
  pixels whose light changes the frame by >= `VISIBLE_LIGHT` levels: light added over white
  saturates and leaves no trace any method could find). The IoU is per frame, averaged; a frame
  whose truth holds 20 pixels of a fading spark, or that has no effect but a false speck, scores 0
  like a frame where everything was missed, so ``effects_iou_ignoring_tiny`` leaves out the frames
  where both the truth and the layer cover less than `TINY_EFFECT` of the frame (the separator's
  own smallest effect). The RGBA light layer is measured by how well it rebuilds the frame over the
  exact layer under it (true plate and characters, so only the light's errors count):
  ``effects_rebuild_error``, the mean absolute error (levels, per channel) over all the pixels of
  normal frames where the truth or the layer has light, next to ``effects_rebuild_error_without``,
  the same pixels without the layer. ``effects_iou_pooled`` is the IoU of the normal frames' effect
  pixels pooled over the seed (their intersections summed over their unions): each effect pixel
  counts once, so a 20-pixel fade frame weighs as little as it shows; flash and impact frames are
  left out, as 130,000 pixels of flash would swamp it.

``masks="truth"`` gives the stages the true label maps instead of the segment and propagate stages', which measures
each stage on its own; ``masks="pipeline"`` measures what a user gets.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np

from app.demo.anime_shots import CLEAR_ALPHA, CLEAR_EFFECT, generate_anime_shots, revealed, write_project
from app.demo.generator import GeneratedFrame
from app.eval.metrics import dtssd, effect_iou, mask_agreement, masked_psnr, matte_errors, matte_regions
from app.eval.plate_measures import invented_measures
from app.paths import shared_dir
from app.pipeline.runner import PipelineRunner, PipelineSettings
from app.store.layers import PLATE_OBSERVED

Masks = Literal["pipeline", "truth"]
VISIBLE_LIGHT = 10  # levels of change in some channel that make added light visible
TINY_EFFECT = 0.002  # fraction of the frame below which an effect (or its absence) is a speck
LIT = 0.05  # strength from which a pixel counts as lit when measuring the rebuild


def _mean(values: list[float | None], digits: int = 4) -> float | None:
    kept = [v for v in values if v is not None and np.isfinite(v)]
    return round(float(np.mean(kept)), digits) if kept else None


def visible_effects(frame: GeneratedFrame) -> np.ndarray:
    """The true effect strength where the light shows in the frame (whole flash and impact frames)."""
    if frame.kind != "normal":
        return frame.effects
    a = frame.alpha[..., None]
    under = np.clip(a * frame.foreground.astype(np.float32) + (1 - a) * frame.clean + 0.5, 0, 255).astype(np.uint8)
    seen = np.abs(frame.image.astype(np.int16) - under.astype(np.int16)).max(axis=2) >= VISIBLE_LIGHT
    return np.where(seen, frame.effects, 0.0).astype(np.float32)


def solid_interior_sad(alpha: np.ndarray, truth: np.ndarray) -> float:
    """SAD (/1000) against the truth with its interior (`matte_regions`) set to 1: several shared
    PNGs hold alpha 0.97-0.99 in their flat fills, where an artist's cut-out (and the issue) wants 1,
    so the plain SAD counts a matte that is right there as wrong."""
    solid = truth.astype(np.float64).copy()
    solid[matte_regions(solid)["interior"]] = 1.0
    return float(np.abs(np.clip(alpha.astype(np.float64), 0.0, 1.0) - solid).sum() / 1000.0)

def under_light(frame: GeneratedFrame) -> np.ndarray:
    """The exact layer under the light: the true characters over the true plate (float32 RGB)."""
    a = frame.alpha[..., None]
    return np.asarray(a * frame.foreground.astype(np.float32) + (1 - a) * frame.clean, np.float32)


def light_measures(frame: GeneratedFrame, strength: np.ndarray, colour: np.ndarray | None) -> dict[str, float | None]:
    """IoU ignoring specks and the rebuild of ``frame`` by its light layer (strength in [0, 1], colour
    uint8 RGB or None for a strength-only layer, then measured as white light)."""
    out: dict[str, float | None] = {}
    tiny = TINY_EFFECT * strength.size
    if max(int((strength >= 0.25).sum()), int((frame.effects >= 0.25).sum())) >= tiny:
        out["effects_iou_ignoring_tiny"] = effect_iou(strength, frame.effects)
    if frame.kind == "normal":
        under = under_light(frame)
        light = np.full(frame.image.shape, 255.0, np.float32) if colour is None else colour.astype(np.float32)
        rebuilt = np.clip(under + strength[..., None] * light + 0.5, 0, 255).astype(np.uint8)
        where = (frame.effects >= LIT) | (strength >= LIT)
        plain = np.clip(under + 0.5, 0, 255).astype(np.uint8)
        # Sums, pooled over the frames by `pool_rebuild`: a frame with three faintly lit pixels must
        # not weigh as much as one with a thousand.
        image = frame.image.astype(np.float32)
        out["rebuild_sum"] = float(np.abs(rebuilt[where] - image[where]).sum())
        out["rebuild_sum_without"] = float(np.abs(plain[where] - image[where]).sum())
        out["rebuild_values"] = float(3 * where.sum())
        p, g = strength >= 0.25, frame.effects >= 0.25
        out["pooled_inter"] = float((p & g).sum())
        out["pooled_union"] = float((p | g).sum())
    return out


def pool_rebuild(per: dict[str, list[float | None]]) -> dict[str, float | None]:
    """The rebuild errors (mean absolute, levels per channel) over all the frames' lit pixels and
    the pooled IoU, from the sums `light_measures` gave per frame (removed from ``per``)."""
    sums = {k: float(np.sum([v for v in per.pop(k, []) if v is not None]))
            for k in ("rebuild_sum", "rebuild_sum_without", "rebuild_values", "pooled_inter", "pooled_union")}
    n = sums["rebuild_values"]
    out: dict[str, float | None] = {"effects_rebuild_error": None, "effects_rebuild_error_without": None,
                                    "effects_iou_pooled": None}
    if sums["pooled_union"] > 0:
        out["effects_iou_pooled"] = round(sums["pooled_inter"] / sums["pooled_union"], 4)
    if n > 0:
        out["effects_rebuild_error"] = round(sums["rebuild_sum"] / n, 2)
        out["effects_rebuild_error_without"] = round(sums["rebuild_sum_without"] / n, 2)
    return out


def default_data() -> tuple[Path, Path]:
    """The shared clips and characters folders (FileNotFoundError when ../shared is absent)."""
    root = shared_dir()
    if root is None or not (root / "data/anime/characters").is_dir():
        raise FileNotFoundError("../shared/data/anime is absent")
    return root / "data/anime/clips", root / "data/anime/characters"


def eval_layer_quality(
    *, seed: int = 303, width: int = 480, height: int = 270, shots: int = 2, frames_per_shot: int = 16,
    masks: Masks = "pipeline", backends: dict[str, str] | None = None, workdir: Path | None = None,
    clips_dir: Path | None = None, character_dir: Path | None = None, stages: list[str] | None = None,
) -> dict[str, Any]:
    """Run the pipeline on generated shots over real anime backgrounds and measure every layer."""
    if clips_dir is None or character_dir is None:
        clips_dir, character_dir = default_data()
    video = generate_anime_shots(seed, clips_dir=clips_dir, character_dir=character_dir, width=width,
                                 height=height, shots=shots, frames_per_shot=frames_per_shot)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        project = write_project(Path(tmp) / "eval", video)
        truth = [video.frame(i) for i in range(video.frame_count)]
        if masks == "truth":
            # Each stage on its own: the plate is given the true effects to paint out too, and the
            # effect stage runs after it (it would overwrite them).
            for f in truth:
                project.layers.write("masks", f.index, f.labels, {"stage": "truth"})
                project.layers.write("effects", f.index, f.effects, {"stage": "truth"})
            runs = [stages or ["matte", "inpaint"], ["effects"]]
        else:
            runs = [stages or ["segment", "propagate", "matte", "effects", "inpaint"]]
        runner = PipelineRunner(project, PipelineSettings(backends=dict(backends or {}))).start()
        read = project.layers.read
        out: dict[str, list[np.ndarray | None]] = {}
        started = time.perf_counter()
        for run in runs:
            runner.submit_run(run).wait()
            runner.wait_idle(3600)
            for name in ("alpha", "clean", "effects", "effect_colour", "plate_confidence"):
                out[name] = [read(name, i) for i in range(video.frame_count)]
        seconds = time.perf_counter() - started
        runner.stop()
        project.close()
    per: dict[str, list[float | None]] = {}

    def add(key: str, value: float | None) -> None:
        per.setdefault(key, []).append(value)

    flicker: list[float | None] = []
    for shot in range(len(video.shots)):
        frames = [f for f in truth if f.shot == shot]
        shown = revealed(video, frames)
        alphas = []
        for f, rev in zip(frames, shown, strict=True):
            alpha = out["alpha"][f.index]
            if alpha is not None:
                a = alpha.astype(np.float32) / 255.0
                alphas.append(a)
                for k, v in matte_errors(a, f.alpha).items():
                    add(f"matte_{k}", v)
                add("matte_sad_solid_interior", solid_interior_sad(a, f.alpha))
            clean = out["clean"][f.index]
            if clean is not None and f.kind == "normal":
                hidden = (f.alpha > CLEAR_ALPHA) | (f.effects > CLEAR_EFFECT)
                add("plate_psnr_revealed_hidden_db", masked_psnr(clean, f.clean, rev & hidden))
                add("plate_psnr_revealed_db", masked_psnr(clean, f.clean, rev))
                add("plate_psnr_invented_db", masked_psnr(clean, f.clean, ~rev))
                conf = out["plate_confidence"][f.index]
                if conf is not None:
                    agree = mask_agreement(conf < PLATE_OBSERVED, ~rev)
                    for k, v in agree.items():
                        add(f"invented_{k}", v)
                    for k, measure in invented_measures(clean, f.clean, conf < PLATE_OBSERVED).items():
                        add(f"plate_invented_{k}", measure)
            eff = out["effects"][f.index]
            if eff is not None:
                pred = eff.astype(np.float32) / 255.0
                add("effects_iou", effect_iou(pred, f.effects))
                add("effects_iou_visible", effect_iou(pred, visible_effects(f)))
                for key, value in light_measures(f, pred, out["effect_colour"][f.index]).items():
                    add(key, value)
        if len(alphas) == len(frames):
            flicker.append(dtssd(alphas, [f.alpha for f in frames]))
    result: dict[str, Any] = {
        "seed": seed, "frames": video.frame_count, "size": f"{width}x{height}", "masks": masks,
        "backends": backends or "classical",
    }
    rebuild = pool_rebuild(per)
    for key, values in per.items():
        result[key] = _mean(values, 2 if "psnr" in key or "grad_error" in key else 4)
    result.update(rebuild)
    result["matte_dtssd"] = _mean(flicker)
    result["seconds"] = round(seconds, 1)
    return result
