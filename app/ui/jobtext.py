"""Plain-language job text for the Jobs panel and the status bar (no Qt: tested directly).

A row must read whole at any dock width, so the text is split into a short title and a detail line
that may wrap, instead of one long string clipped inside a progress bar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

JOB_TITLES = {
    "run": "Run all stages",
    "update": "Updating after an edit",
    "click": "Click correction",
    "brush": "Brush stroke",
    "propagate": "Propagation",
    "prepare": "Preparing the click model",
    "delete": "Deleting an object",
    "kind": "Changing an object's kind",
    "undo": "Undo",
    "redo": "Redo",
}
MULTI_STAGE = {"run", "update"}  # jobs whose counts are stage steps over frames, not frames
STAGE_WORDS = {
    "segment": "finding objects",
    "propagate": "tracking objects",
    "matte": "cutting out characters",
    "effects": "finding effects",
    "inpaint": "painting the clean plate",
    "annotate": "tagging",
}


STARTING = {
    "run": "starting: loading models and analysing the shot",
    "update": "starting: loading models and analysing the shot",
    "propagate": "starting: loading the tracking model and reading the shot",
    "click": "running the click model",
    "prepare": "loading the click model",
}


@dataclass(frozen=True)
class JobText:
    title: str
    detail: str

    def line(self) -> str:
        return f"{self.title}: {self.detail}"


def duration(seconds: float) -> str:
    """``about 40 s`` / ``about 7 min`` / ``about 1 h 5 min``."""
    if not math.isfinite(seconds) or seconds <= 0:
        return ""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    return f"about {minutes} min" if minutes < 60 else f"about {minutes // 60} h {minutes % 60} min"


# Before its first frame a job says how long it has been working once it has for this long (on
# konobi_s01e007 loading and the shot's analysis took 144 s, with a row that never changed).
WORKING_SHOWN_AFTER_S = 10.0


def describe(kind: str, job_id: int, state: str, done: int = 0, total: int = 0, fps: float = 0.0,
             eta_s: float = 0.0, stage: str = "", message: str = "", elapsed_s: float = 0.0) -> JobText:
    """The title and detail line of one job in any state (``elapsed_s``: how long it has run)."""
    title = f"{JOB_TITLES.get(kind, kind.title())} #{job_id}"
    step = f"{stage} ({STAGE_WORDS[stage]})" if stage in STAGE_WORDS else stage
    # A run counts each stage on each frame: "984 of 984 frames" on a 193-frame clip read as a miscount.
    unit = "steps" if kind in MULTI_STAGE else "frames"
    counts = f"{done} of {total} {unit}" if total else ""
    if state == "queued":
        return JobText(title, "waiting for the jobs before it")
    if state == "cancelled":
        return JobText(title, "cancelled" + (f" after {counts}" if counts else "") + "; finished frames are kept")
    if state == "failed":
        return JobText(title, f"failed: {message}" if message else "failed")
    if state == "done" and message:  # what the job did, when it says (an undo: "Undid: brush on Luffy, frame 34.")
        return JobText(title, message)
    if state == "done":
        return JobText(title, "done" + (f": {counts}" if counts else ""))
    if done == 0:
        # Before the first frame the runner loads models and analyses the shot: say so, not nothing.
        todo = (f" ({total} {unit} to do" + (": a step is one stage on one frame" if unit == "steps" else "") + ")"
                if total else "")
        working = f", working for {duration(elapsed_s)}" if elapsed_s >= WORKING_SHOWN_AFTER_S else ""
        return JobText(title, STARTING.get(kind, "working") + todo + working)
    parts = [p for p in (step, counts) if p]
    if fps > 0:
        parts.append(f"{fps:.1f} {unit}/s" if fps < 10 else f"{fps:.0f} {unit}/s")
    left = duration(eta_s)
    if left:
        parts.append(f"{left} left")
    return JobText(title, ", ".join(parts))
