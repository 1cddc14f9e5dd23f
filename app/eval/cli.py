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


def run_eval_command(args: argparse.Namespace) -> int:
    from models.registry import create_backend

    sequences = args.sequences.split(",") if args.sequences else None
    if args.what == "quality":
        from app.eval.quality import evaluate_faces, evaluate_signals

        result = evaluate_signals(range(1000, 1100))
        characters = Path(args.dir) if args.dir else None
        if characters is not None:
            result["faces"] = evaluate_faces(characters)
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
        result = eval_layers(seeds=seeds, character_dir=Path(chars) if chars else None)
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
