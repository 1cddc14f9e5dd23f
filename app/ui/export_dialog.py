"""The Export dialog (format, frame selection; runs in the background) and its summary when done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.errors import InputError
from app.ui.controller import MainController
from app.ui.errors import show_error
from app.ui.workers import run_with_progress

FORMAT_TEXT = {
    "layers": "Every layer as PNG files (frame, object RGBA, masks, clean plate) for compositing or custom training.",
    "kohya": "LoRA training folders for kohya-ss sd-scripts: images with caption .txt files per character.",
    "coco": "COCO instance segmentation (annotations.json with RLE masks), one video per shot.",
    "hf": "A Hugging Face imagefolder (train/ with metadata.jsonl), loadable with datasets.load_dataset.",
    "webdataset": "WebDataset tar shards (image, mask, caption per sample) for streaming training.",
}


class ExportDialog(QDialog):
    """Export the project as a dataset (format and frame selection), in the background.

    The choices are kept per project (in its manifest's settings) and offered again next time.
    """

    def __init__(self, controller: MainController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from app.export import format_names

        self.c = controller
        self.setWindowTitle("Export dataset")
        self.setMinimumWidth(640)
        project = controller.project
        saved = dict(project.manifest.settings.get("export", {})) if project is not None else {}
        default = (project.root.parent / f"{project.root.name}-export") if project is not None else Path.home()
        self.out = QLineEdit(str(saved.get("out", default)))
        self.out.setMinimumWidth(420)
        self.out.setToolTip(self.out.text())
        self.out.textChanged.connect(self.out.setToolTip)
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out, 1)
        out_row.addWidget(browse)
        self.format = QComboBox()
        self.format.addItems(format_names())
        self.format_note = QLabel()
        self.format_note.setWordWrap(True)
        self.format_note.setStyleSheet("color: #a8a8b0;")
        self.format.currentTextChanged.connect(self._describe)
        for i in range(self.format.count()):
            self.format.setItemData(i, FORMAT_TEXT.get(self.format.itemText(i), ""), 3)  # 3 = ToolTipRole
        self.corrected_only = QCheckBox("Only corrected frames")
        self.confirmed_only = QCheckBox("Only objects I named or confirmed")
        self.confirmed_only.setToolTip("Leave out objects still under their automatic names (they are exported "
                                       "under those names and flagged confirmed: false otherwise)")
        self.min_conf = QDoubleSpinBox()
        self.min_conf.setRange(0.0, 1.0)
        self.min_conf.setSingleStep(0.05)
        self.dedupe = QSpinBox()
        self.dedupe.setRange(0, 64)
        self.dedupe.setToolTip("Largest hash distance treated as a near-duplicate (0 = keep all)")
        self.every_frame = QCheckBox("Every frame, held drawings too")
        held = _held_count(project)
        self.every_frame.setToolTip(
            "Anime holds a drawing for two or three frames; an export writes each drawing once (its first frame). "
            "Ticked, every frame is written: more files, the same pictures repeated."
            + (f" {held} of this project's {project.frame_count} frames hold an earlier frame's drawing."
               if project is not None else ""))
        if project is not None and held:
            self.every_frame.setText(f"Every frame, held drawings too ({held} of {project.frame_count} frames are held)")
        self.max_per_shot = QSpinBox()
        self.max_per_shot.setRange(0, 100000)
        self.max_per_shot.setSpecialValueText("no limit")
        self.format.setCurrentText(str(saved.get("format", self.format.currentText())))
        self.corrected_only.setChecked(bool(saved.get("corrected_only", False)))
        self.confirmed_only.setChecked(bool(saved.get("confirmed_only", False)))
        self.every_frame.setChecked(bool(saved.get("every_frame", False)))
        self.min_conf.setValue(float(saved.get("min_confidence", 0.0)))
        self.dedupe.setValue(int(saved.get("dedupe", 0)))
        self.max_per_shot.setValue(int(saved.get("max_per_shot", 0)))
        self._describe(self.format.currentText())
        form = QFormLayout()
        form.addRow("Folder", out_row)
        form.addRow("Format", self.format)
        form.addRow("", self.format_note)
        form.addRow("", self.corrected_only)
        form.addRow("", self.confirmed_only)
        form.addRow("", self.every_frame)
        form.addRow("Min confidence", self.min_conf)
        form.addRow("De-duplicate", self.dedupe)
        form.addRow("Max frames per shot", self.max_per_shot)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        # Exporting while layers are out of date is allowed, but never silently: they are brought up to
        # date first (through the app's pipeline, with progress), or written as they are and listed.
        left = controller.work_left
        pending = [f"{left[k]} frame{'s' if left[k] != 1 else ''} {word}" for k, word in (("stale", "stale"), ("missing", "not computed"),
                                                               ("running", "still running")) if left.get(k)]
        self.pending = bool(pending)
        paused = controller.runner is not None and controller.runner.paused
        self.stale_warning = QLabel(
            "Not up to date: " + ", ".join(pending) + ". The export brings them up to date first"
            + (" - but the pipeline is paused: resume it (Pipeline > Pause pipeline) or tick the box below."
               if paused else ", unless you tick the box below.") if pending else "")
        self.stale_warning.setWordWrap(True)
        self.stale_warning.setStyleSheet("color: #e0b040;")
        self.stale_warning.setVisible(self.pending)
        self.allow_stale = QCheckBox("Export out-of-date frames as they are (listed in the export's manifest)")
        self.allow_stale.setVisible(self.pending)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.stale_warning)
        layout.addWidget(self.allow_stale)
        layout.addWidget(buttons)
        self.summary_dialog: ExportSummary | None = None

    def _describe(self, name: str) -> None:
        self.format_note.setText(FORMAT_TEXT.get(name, ""))

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into", self.out.text())
        if folder:
            self.out.setText(folder)

    def options(self) -> dict[str, Any]:
        return {"format": self.format.currentText(), "corrected_only": self.corrected_only.isChecked(),
                "confirmed_only": self.confirmed_only.isChecked(), "every_frame": self.every_frame.isChecked(),
                "min_confidence": self.min_conf.value(), "dedupe": self.dedupe.value(),
                "max_per_shot": self.max_per_shot.value()}

    def _remember(self, out: Path, options: dict[str, Any]) -> None:
        project = self.c.project
        if project is not None:
            project.manifest.settings["export"] = {"out": str(out), **options}
            project.save_manifest()

    def accept(self) -> None:
        project = self.c.project
        if project is None:
            return
        out, options = Path(self.out.text()), self.options()
        allow_stale = self.pending and self.allow_stale.isChecked()
        runner = self.c.runner
        if self.pending and not allow_stale and runner is not None and runner.paused:
            # The re-run would wait for the pipeline forever behind a busy progress bar.
            show_error(self, InputError(
                "The pipeline is paused, so the frames that are not up to date cannot be brought up to date for "
                "this export. Resume it (Pipeline > Pause pipeline), or tick \"Export out-of-date frames as they are\"."))
            return
        self._remember(out, options)
        parent = self.parentWidget() or self
        objects = [o.name for o in project.manifest.objects]

        def work(progress: Any, cancelled: Any) -> dict[str, Any]:
            from app.export import export_project

            return export_project(project, out, progress=progress, cancel=cancelled, allow_stale=allow_stale,
                                  runner=runner, stage_progress=lambda _stage, done, total: progress(done, total),
                                  **options)

        def done(summary: dict[str, Any]) -> None:
            self.c.status.emit(f"Exported to {out}.")
            self.summary_dialog = ExportSummary(summary, out, objects, options, parent)
            self.summary_dialog.open()

        run_with_progress(parent, f"Exporting {options['format']}...", work, done, lambda exc: show_error(parent, exc))
        super().accept()


def _held_count(project: Any) -> int:
    """How many of ``project``'s frames hold an earlier frame's drawing (0 without a project)."""
    if project is None:
        return 0
    keys = np.asarray(project.drawing_keys)
    return int(np.count_nonzero(keys != np.arange(len(keys))))


def summary_lines(summary: dict[str, Any], objects: int | list[str], options: dict[str, Any]) -> list[str]:
    """What an export wrote, in sentences: files, frames, objects, and what was skipped and why.

    ``objects``: the project's object names (or only their count); the objects counted are those the
    export holds (``objects_exported``), and listed ones it does not hold are named."""
    files, frames = int(summary.get("files", 0)), int(summary.get("frames", 0))
    written, skipped = int(summary.get("written", files)), int(summary.get("skipped", 0))
    names = summary.get("objects_exported")
    count = len(names) if names is not None else (objects if isinstance(objects, int) else len(objects))
    lines = [f"{files} files for {frames} frames and {count} object{'s' if count != 1 else ''} "
             f"({summary.get('format', options.get('format', ''))})" + (f": {', '.join(names)}." if names else ".")]
    left = [n for n in objects if n not in set(names)] if names is not None and not isinstance(objects, int) else []
    if left:
        unconfirmed = ", or not confirmed" if options.get("confirmed_only") else ""
        lines.append(f"Not in this export (no pixels in the frames chosen, or burnt-in text{unconfirmed}): {', '.join(left)}.")
    held = int(summary.get("held_frames", 0))
    if held:
        lines.append(f"{held} more frame{'s' if held != 1 else ''} left out as held drawings (the same picture as an "
                     "earlier frame, exported once); tick \"Every frame\" in the Export dialog (every_frame=true on "
                     "the command line) to export them too.")
    repeated = int(summary.get("held_exported", 0))
    if options.get("every_frame") and repeated:
        lines.append(f"Every frame: {repeated} of these {frames} frames hold an earlier frame's drawing (the same "
                     "picture again); without \"Every frame\" each drawing is exported once.")
    stale = summary.get("stale_frames") or []
    if stale:
        lines.append(f"{len(stale)} frame{'s' if len(stale) != 1 else ''} written out of date, as asked "
                     "(listed in the export's manifest under stale_frames).")
    if skipped:
        lines.append(f"{written} written, {skipped} skipped because they were already up to date from an earlier export.")
    why = []
    if options.get("corrected_only"):
        why.append("only corrected frames were chosen")
    if options.get("min_confidence"):
        why.append(f"frames under {options['min_confidence']:.2f} confidence were left out")
    if options.get("dedupe"):
        why.append("near-duplicate frames were left out")
    if options.get("max_per_shot"):
        why.append(f"at most {options['max_per_shot']} frames per shot")
    if why:
        lines.append("Frames left out: " + "; ".join(why) + ".")
    removed = summary.get("removed")
    if removed:
        count = len(removed) if isinstance(removed, list | tuple | set) else int(removed)
        lines.append(f"{count} files of an earlier export that no longer apply were removed.")
    return lines


class ExportSummary(QDialog):
    """Export finished: the counts, what was skipped and why, and a button that opens the folder."""

    def __init__(self, summary: dict[str, Any], out: Path, objects: int | list[str], options: dict[str, Any],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export finished")
        self.out = out
        self.lines = summary_lines(summary, objects, options)
        where = QLabel(f"Exported to {out}")
        where.setWordWrap(True)
        where.setStyleSheet("font-weight: 600;")
        body = QLabel("\n".join(self.lines))
        body.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.open_button = buttons.addButton("Open folder", QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.clicked.connect(self.open_folder)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(where)
        layout.addWidget(body)
        layout.addWidget(buttons)
        self.setMinimumWidth(480)

    def open_folder(self) -> bool:
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.out)))
