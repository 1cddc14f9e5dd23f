"""``celstudio run``: the pipeline on the command line, with a progress bar and Ctrl+C to cancel."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.errors import CelstudioError
from app.pipeline.events import FrameFailed, JobFinished, JobProgress, PipelineEvent
from app.pipeline.graph import ROLE_OF_STAGE, STAGES, stage_summary
from app.pipeline.runner import PipelineRunner, PipelineSettings
from app.store import Project
from app.store.retire import RETIRE, cleared_notice
from app.terminal import Progress
from app.words import numbers, shot_indices
from models.classical.faces import cascade_notice
from models.registry import CLASSICAL


def parse_backends(pairs: list[str]) -> dict[str, str]:
    """``stage=name`` or ``role=name`` pairs into a role -> backend table."""
    table: dict[str, str] = {}
    for pair in pairs:
        key, sep, name = pair.partition("=")
        if not sep or not name:
            raise CelstudioError(f"--backend takes ROLE=NAME (e.g. matter=u2net), not {pair!r}.")
        role = ROLE_OF_STAGE.get(key, key)
        if role not in ROLE_OF_STAGE.values() and role != "clicker":
            raise CelstudioError(f"Unknown stage or role {key!r}; use one of {', '.join(STAGES)}.")
        table[role] = name
    return table


def run_pipeline_command(args: argparse.Namespace) -> int:
    stages = args.stages.split(",") if args.stages else None
    for stage in stages or []:
        if stage not in STAGES:
            raise CelstudioError(f"Unknown stage {stage!r}; stages are {', '.join(STAGES)}.")
    with Project.open(Path(args.project)) as project:
        for notice in project.notices:
            print(f"note: {notice}")
        # Shot numbers from 1, as the app and every notice show them (`shot_indices` refuses a 0).
        shots = shot_indices(numbers(args.shots, "--shots"), len(project.shots)) if args.shots else None
        if shots is not None:
            print("running " + ", ".join(f"shot {i + 1} (frames {project.shots[i].start + 1}-{project.shots[i].end})"
                                         for i in sorted(set(shots))))
        backends = {**project.manifest.settings.get("backends", {}), **parse_backends(args.backend)}
        runner = PipelineRunner(project, PipelineSettings(backends=backends, device=args.device))
        started = project.journal.last_seq  # what the run journals comes after this
        failures: list[FrameFailed] = []
        finished: list[JobFinished] = []

        progress = Progress()

        def show(event: PipelineEvent) -> None:
            if isinstance(event, JobProgress):
                eta = f"  ETA {event.eta_s:5.0f}s" if event.eta_s > 0 else ""
                progress.update(event.stage, event.done, event.total, f"{event.fps:5.1f} f/s{eta}")
            elif isinstance(event, FrameFailed):
                failures.append(event)
            elif isinstance(event, JobFinished) and event.status == "failed":
                finished.append(event)

        runner.subscribe(show)
        runner.start()
        handle = runner.submit_run(stages, shots, force=args.force)
        try:
            while not handle.wait(0.2):
                pass
        except KeyboardInterrupt:
            runner.cancel(handle.job_id)
            handle.wait(30)
            sys.stderr.write("\ncancelled; finished frames are kept\n")
        runner.wait_idle(60)
        runner.stop()
        sys.stderr.write("\n")
        for notice in runner.notices:
            print(f"note: {notice}")
        if "segment" in (stages or STAGES) and runner.settings.backend_name("segmenter") == CLASSICAL:
            advice = cascade_notice()
            if advice:
                print(f"note: {advice}")
        for entry in project.journal:  # undo history the run's re-run replaced (`app.store.retire`)
            if entry.seq > started and entry.kind == RETIRE:
                print(f"note: {cleared_notice(project, entry)}")
        for f in failures[:10]:
            print(f"failed: {f.stage} frame {f.frame + 1}: {f.reason}")  # frames from 1, as the app shows them
        for stage in stages or STAGES:
            name = runner.settings.backend_name(ROLE_OF_STAGE[stage])
            print(f"{stage:<10} {name:<12} " + ", ".join(f"{k} {v}" for k, v in stage_summary(project, stage, name).items()))
    if finished:
        # A run whose results did not all reach the disk failed, whatever the stages computed.
        raise CelstudioError(f"The run failed: {finished[0].message}")
    return 1 if failures else 0
