"""The ``celstudio`` command line.

Every user-caused failure prints one line (``celstudio: error: ...``) and exits non-zero; tracebacks
are for bugs only. Heavy modules are imported inside the command that needs them, so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from app.errors import CelstudioError
from app.words import counted

Handler = Callable[[argparse.Namespace], int]


def _progress_bar(label: str) -> Callable[[int, int], None]:
    from app.terminal import Progress

    progress = Progress()
    return lambda done, total: progress.update(label, done, total)


def cmd_import(args: argparse.Namespace) -> int:
    from app.ingest.importer import ImportDiskFull, import_source

    try:
        project = import_source(Path(args.source), Path(args.project), progress=_progress_bar("import"))
    except ImportDiskFull as exc:
        if not exc.abandoned_hdf5:
            raise
        # HDF5 crashes closing files whose writes hit ENOSPC, also in its exit handler: the message
        # is the last thing this process does (the files are already deleted).
        import os

        print(f"celstudio: error: {exc}", file=sys.stderr, flush=True)
        os._exit(1)
    with project:
        print(f"imported {project.frame_count} frames in {counted(len(project.shots), 'shot')} into {project.root}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from app.pipeline.graph import STAGES, stage_summary
    from app.store import Project

    # Read-only: info never writes, and works while the app or a run has the project open.
    with Project.open(Path(args.project), read_only=True) as project:
        m = project.manifest
        info = {
            "name": m.name,
            "source": m.source.path or m.source.kind,
            "frames": m.frame_count,
            "drawings": project.drawing_count,
            "size": f"{m.width}x{m.height}",
            "fps": round(m.fps, 3),
            "shots": [[s.start, s.end] for s in project.shots],
            "objects": [o.name for o in m.objects],
            "corrected_frames": len(project.corrected_frames()),
            "stages": {stage: stage_summary(project, stage) for stage in STAGES},
            "notices": [n for n in project.notices if not n.endswith("is open read-only.")],
        }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['name']}: {info['frames']} frames ({info['drawings']} drawings), {info['size']} @ {info['fps']} fps, {counted(len(project.shots), 'shot')}")
    print(f"source: {info['source']}")
    shown = ", ".join(f"{o.name} ({o.kind})" for o in m.objects[:12]) + (f", ... {len(m.objects) - 12} more" if len(m.objects) > 12 else "")
    print(f"objects: {len(m.objects)}: {shown}" if m.objects else "objects: none yet (the segment stage registers them)")
    for stage, summary in info["stages"].items():  # type: ignore[attr-defined]
        print(f"  {stage:<10} " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    for notice in info["notices"]:  # type: ignore[attr-defined]
        print(f"note: {notice}")
    return 0


def cmd_recover(args: argparse.Namespace) -> int:
    from app.store import Project

    with Project.open(Path(args.project), recover=True) as project:
        if not project.repairs:
            print(f"{project.root}: nothing to recover; the project opens cleanly")
        for repair in project.repairs:
            print(repair)
    return 0


def cmd_reimport(args: argparse.Namespace) -> int:
    from app.ingest.reimport import reimport_media

    kept = reimport_media(Path(args.project), progress=_progress_bar("reimport"))
    print("rebuilt media.h5 from the source" + (f"; the old file was kept as {kept.name}" if kept else ""))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from app.demo.project import ensure_demo_project
    from app.paths import projects_dir

    root = ensure_demo_project(projects_dir())
    print(f"demo project: {root}")
    if args.no_gui:
        return 0
    from app.ui.main import run_gui

    return run_gui(root)


def cmd_gui(args: argparse.Namespace) -> int:
    from app.ui.main import run_gui

    return run_gui(Path(args.project) if args.project else None)


def cmd_run(args: argparse.Namespace) -> int:
    from app.pipeline.cli import run_pipeline_command

    return run_pipeline_command(args)


def cmd_eval(args: argparse.Namespace) -> int:
    from app.eval.cli import run_eval_command

    return run_eval_command(args)


def cmd_export(args: argparse.Namespace) -> int:
    from app.export.cli import run_export_command

    return run_export_command(args)


def cmd_models(args: argparse.Namespace) -> int:
    from models.manager_cli import run_models_command

    return run_models_command([args.action, *args.names])


def cmd_batch(args: argparse.Namespace) -> int:
    from app.batch.cli import run_batch_command

    return run_batch_command(args)


def cmd_review(args: argparse.Namespace) -> int:
    from app.batch.cli import run_review_command

    return run_review_command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="celstudio", description="Turn anime video into clean, layered training data.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("import", help="import a video file or an image folder into a new project")
    p.add_argument("source")
    p.add_argument("project")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("info", help="frames, shots and per-stage progress of a project")
    p.add_argument("project")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("recover", help="rebuild a damaged project's layers from its correction journal")
    p.add_argument("project")
    p.set_defaults(func=cmd_recover)

    p = sub.add_parser("reimport", help="rebuild a project's media (proxies, frame index) from its source")
    p.add_argument("project")
    p.set_defaults(func=cmd_reimport)

    p = sub.add_parser("gui", help="open the desktop app")
    p.add_argument("project", nargs="?")
    p.set_defaults(func=cmd_gui)

    p = sub.add_parser("demo", help="generate projects/demo on first run and open it")
    p.add_argument("--no-gui", action="store_true", help="only make sure the demo project exists")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("run", help="run pipeline stages on a project")
    p.add_argument("project")
    p.add_argument("--stages", help="comma-separated stages (default: all)")
    p.add_argument("--shots", help="comma-separated shot numbers, from 1 as the app shows them (default: all)")
    p.add_argument("--backend", action="append", default=[], metavar="ROLE=NAME", help="e.g. matter=u2net")
    p.add_argument("--device", default="auto")
    p.add_argument("--force", action="store_true", help="re-run fresh results too")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("eval", help="quality figures as JSON")
    p.add_argument("what", choices=["propagation", "clicks", "layers", "layer-quality", "quality"])
    p.add_argument("dir", nargs="?", help="a DAVIS-layout folder (propagation, clicks); quality: a folder of RGBA characters")
    p.add_argument("--backend", default="classical",
                   help="propagation, clicks: the backend's name; layers: ROLE=NAME[,ROLE=NAME], e.g. segmenter=bothways")
    p.add_argument("--sequences", help="comma-separated sequence names")
    p.add_argument("--seeds", help="layers: comma-separated generator seeds (default: the held-out ones)")
    p.add_argument("--characters", help="layers: a folder of RGBA character PNGs (default: procedural)")
    p.add_argument("--seed", type=int, action="append", help="layer-quality: generator seed (repeatable)")
    p.add_argument("--masks", choices=["pipeline", "truth"], default="pipeline",
                   help="layer-quality: the segment and propagate stages' masks, or the true ones (each stage on its own)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("export", help="export cleaned layers as a dataset")
    p.add_argument("project")
    p.add_argument("out")
    p.add_argument("--format", default="layers")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="e.g. shots=1,3 (shots from 1, as the app numbers them), max_per_shot=20")
    p.add_argument("--confirmed-only", action="store_true", help="only objects the user named or confirmed")
    p.add_argument("--allow-stale", action="store_true",
                   help="write stale results as they are (listed in the manifest) instead of re-running them first")
    p.add_argument("--force", action="store_true",
                   help="export into a folder holding files Celstudio did not write (they are kept)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("batch", help="run whole episodes or seasons on a Ray cluster (or this machine)")
    from app.batch.cli import add_batch_arguments, add_review_arguments

    add_batch_arguments(p)
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("review", help="the shots and objects most in need of a human look, worst first")
    add_review_arguments(p)
    p.set_defaults(func=cmd_review)

    p = sub.add_parser("models", help="list, download, verify deep-model weights")
    p.add_argument("action", choices=["list", "download", "verify", "path", "install", "forget"])
    p.add_argument("names", nargs="*")
    p.set_defaults(func=cmd_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Handler = args.func
    try:
        return func(args)
    except CelstudioError as exc:
        print(f"celstudio: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("celstudio: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
