"""``celstudio eval``: quality figures as JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from app.errors import InputError


def _davis_dir(path: str | None) -> Path:
    if not path:
        raise InputError("Give a DAVIS-layout folder (JPEGImages/<seq>, Annotations/<seq>).")
    root = Path(path)
    if not (root / "JPEGImages").is_dir() or not (root / "Annotations").is_dir():
        raise InputError(f"{root} is not a DAVIS-layout folder (it needs JPEGImages/ and Annotations/).")
    return root


def _role_backends(text: str) -> dict[str, str]:
    """``segmenter=bothways,inpainter=patchfill`` as a role -> backend map (``classical``: none)."""
    if text == "classical":
        return {}
    pairs = [item.split("=", 1) for item in text.split(",")]
    if any(len(pair) != 2 or not all(pair) for pair in pairs):
        raise InputError(f"eval layers takes --backend ROLE=NAME[,ROLE=NAME], not {text!r}.")
    chosen = {role.strip(): name.strip() for role, name in pairs}
    from models.registry import backends

    for role in chosen:
        if not backends(role):  # type: ignore[arg-type]
            raise InputError(f"There is no backend role {role!r} (segmenter, matter, effects, inpainter, ...).")
    return chosen


def run_eval_command(args: argparse.Namespace) -> int:
    from models.registry import create_backend

    sequences = args.sequences.split(",") if args.sequences else None
    if args.what == "layer-quality":
        from app.eval.layer_quality import default_data, eval_layer_quality

        try:
            clips, characters = default_data()
        except FileNotFoundError as exc:
            raise InputError("layer-quality needs ../shared/data/anime (clips and characters) beside the checkout.") from exc
        seeds = getattr(args, "seed", None) or [303]
        runs = [eval_layer_quality(seed=s, masks=getattr(args, "masks", "pipeline"), clips_dir=clips,
                                   character_dir=characters) for s in seeds]
        print(json.dumps(runs[0] if len(runs) == 1 else runs, indent=2, default=float))
        return 0
    if args.what == "quality":
        from app.eval.quality import evaluate_faces, evaluate_signals

        result = evaluate_signals(range(1000, 1100))
        faces_dir = Path(args.dir) if args.dir else None
        if faces_dir is not None:
            result["faces"] = evaluate_faces(faces_dir)
    elif args.what == "layers":
        from app.eval.layers import HELD_OUT_SEEDS, eval_layers

        seeds_arg = getattr(args, "seeds", None)
        try:
            seeds = [int(v) for v in seeds_arg.split(",")] if seeds_arg else list(HELD_OUT_SEEDS)
        except ValueError as exc:
            raise InputError(f"--seeds takes comma-separated integers, not {seeds_arg!r}.") from exc
        chars = getattr(args, "characters", None)
        if chars and not Path(chars).is_dir():
            raise InputError(f"{chars} is not a folder of character PNGs.")
        result = eval_layers(seeds=seeds, character_dir=Path(chars) if chars else None,
                             backends=_role_backends(args.backend))
    elif args.what == "propagation":
        from app.eval.davis import eval_propagation

        propagator = create_backend("propagator", args.backend)
        propagator.load("cpu")
        result = eval_propagation(_davis_dir(args.dir), propagator, sequences=sequences)
    else:
        from app.eval.clicks_protocol import eval_clicks

        clicker = create_backend("clicker", args.backend)
        clicker.load("cpu")
        result = eval_clicks(_davis_dir(args.dir), clicker, sequences=sequences)
    print(json.dumps(result, indent=2, default=float))
    return 0
