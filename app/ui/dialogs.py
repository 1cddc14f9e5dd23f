"""Settings (backend per stage, device, batch size), Models (list and download), Export (with its
summary) and the keyboard shortcut sheet."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.controller import MainController
from app.ui.errors import show_error
from app.ui.model_text import ROLE_ORDER, ROLE_TEXT, human_size, model_text, role_name
from app.ui.workers import run_with_progress

ROLE_LABELS = {role: ROLE_TEXT[role][0] for role in ROLE_ORDER}
DEVICES = ("auto", "cpu", "cuda", "mps")
FORMAT_TEXT = {
    "layers": "Every layer as PNG files (frame, object RGBA, masks, clean plate) for compositing or custom training.",
    "kohya": "LoRA training folders for kohya-ss sd-scripts: images with caption .txt files per character.",
    "coco": "COCO instance segmentation (annotations.json with RLE masks), one video per shot.",
    "hf": "A Hugging Face imagefolder (train/ with metadata.jsonl), loadable with datasets.load_dataset.",
    "webdataset": "WebDataset tar shards (image, mask, caption per sample) for streaming training.",
}


class SettingsDialog(QDialog):
    """Pipeline settings saved in the project manifest; the runner restarts with them."""

    def __init__(self, controller: MainController, parent: QWidget | None = None, manager: Any = None) -> None:
        super().__init__(parent)
        from models.registry import availability, backends

        self.c = controller
        self.setWindowTitle("Settings")
        saved = controller.project.manifest.settings if controller.project else {}
        chosen = dict(saved.get("backends", {}))
        box = QGroupBox("Backend per stage")
        form = QFormLayout(box)
        self.combos: dict[str, QComboBox] = {}
        for role, label in ROLE_LABELS.items():
            combo = QComboBox()
            combo.setToolTip(ROLE_TEXT[role][1])
            model = cast(QStandardItemModel, combo.model())
            for i, spec in enumerate(backends(role)):  # type: ignore[arg-type]
                ok, reason = availability(spec, manager)
                combo.addItem(spec.label if ok else f"{spec.label} (not installed: see Models)", spec.name)
                item = model.item(i)
                item.setEnabled(ok)
                item.setToolTip(reason or "ready")
                if spec.name == chosen.get(role, "classical") and ok:
                    combo.setCurrentIndex(i)
            row_label = QLabel(label)
            row_label.setToolTip(ROLE_TEXT[role][1])
            form.addRow(row_label, combo)
            self.combos[role] = combo
        self.device = QComboBox()
        self.device.addItems(DEVICES)
        self.device.setCurrentText(str(saved.get("device", "auto")))
        self.batch = QSpinBox()
        self.batch.setRange(1, 64)
        self.batch.setValue(int(saved.get("batch_size", 4)))
        run = QGroupBox("Running")
        run_form = QFormLayout(run)
        run_form.addRow("Device", self.device)
        run_form.addRow("Batch size", self.batch)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.models_button = buttons.addButton("Models...", QDialogButtonBox.ButtonRole.HelpRole)
        self.models_button.setToolTip("See, download and compare the models each step can use")
        self.models_button.clicked.connect(self._open_models)
        self.manager = manager
        note = QLabel("Greyed-out choices need a model download: Models... lists what each one improves.")
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(box)
        layout.addWidget(note)
        layout.addWidget(run)
        layout.addWidget(buttons)

    def _open_models(self) -> None:
        ModelsDialog(self, manager=self.manager, from_settings=True).exec()

    def values(self) -> dict[str, Any]:
        return {"backends": {role: str(combo.currentData()) for role, combo in self.combos.items()},
                "device": self.device.currentText(), "batch_size": self.batch.value()}

    def accept(self) -> None:
        self.c.apply_settings(self.values())
        super().accept()


class ModelsDialog(QDialog):
    """The model catalog with install state; downloads run in the background with progress."""

    COLUMNS = ("Model", "Used for", "Size", "State", "What it is", "What it improves", "License")

    def __init__(self, parent: QWidget | None = None, manager: Any = None, from_settings: bool = False) -> None:
        super().__init__(parent)
        from models.manager import ModelManager

        self.manager = manager if manager is not None else ModelManager()
        self.setWindowTitle("Models")
        self.resize(1240, 560)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.setWordWrap(True)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        for col in (4, 5):  # the sentences share what is left and wrap, so no row is cut off
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.download = QPushButton("Download selected")
        self.download.clicked.connect(self._download)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        intro = QLabel("Everything works without these downloads (weight-free methods). Each model makes one "
                       "step better; after a download, choose it in Settings.")
        intro.setWordWrap(True)
        self.settings_button = QPushButton("Settings...")
        self.settings_button.setToolTip("Choose which model each step uses (Edit > Settings)")
        self.settings_button.clicked.connect(self._open_settings)
        self.settings_button.setVisible(not from_settings and parent is not None and hasattr(parent, "settings_dialog"))
        row = QHBoxLayout()
        row.addWidget(self.settings_button)
        row.addStretch(1)
        row.addWidget(self.download)
        row.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table)
        layout.addLayout(row)
        self.refresh()

    def _open_settings(self) -> None:
        parent = self.parentWidget()
        self.accept()
        if parent is not None and hasattr(parent, "settings_dialog"):
            parent.settings_dialog()

    def refresh(self) -> None:
        rows = self.manager.list()
        self.table.setRowCount(len(rows))
        for r, m in enumerate(rows):
            size = human_size(m.size, getattr(m, "size_exact", True))
            state = "verified" if m.verified else "installed" if m.installed else "not installed"
            what, improves = model_text(m.name, m.role)
            for col, text in enumerate((m.name, role_name(m.role), size, state, what,
                                        improves if not m.installed else f"(in use when chosen) {improves}",
                                        m.license)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(r, col, item)
        self.table.resizeRowsToContents()

    def selected(self) -> str | None:
        item = self.table.item(self.table.currentRow(), 0) if self.table.currentRow() >= 0 else None
        return item.text() if item is not None else None

    def _download(self) -> None:
        name = self.selected()
        if name is None:
            return

        def work(progress: Any, cancelled: Any) -> Path:
            return Path(self.manager.download(name, progress=progress, cancel=cancelled))

        run_with_progress(self, f"Downloading {name}...", work, lambda _p: self.refresh(),
                          lambda exc: show_error(self, exc))


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
        self.min_conf = QDoubleSpinBox()
        self.min_conf.setRange(0.0, 1.0)
        self.min_conf.setSingleStep(0.05)
        self.dedupe = QSpinBox()
        self.dedupe.setRange(0, 64)
        self.dedupe.setToolTip("Largest hash distance treated as a near-duplicate (0 = keep all)")
        self.max_per_shot = QSpinBox()
        self.max_per_shot.setRange(0, 100000)
        self.max_per_shot.setSpecialValueText("no limit")
        self.format.setCurrentText(str(saved.get("format", self.format.currentText())))
        self.corrected_only.setChecked(bool(saved.get("corrected_only", False)))
        self.min_conf.setValue(float(saved.get("min_confidence", 0.0)))
        self.dedupe.setValue(int(saved.get("dedupe", 0)))
        self.max_per_shot.setValue(int(saved.get("max_per_shot", 0)))
        self._describe(self.format.currentText())
        form = QFormLayout()
        form.addRow("Folder", out_row)
        form.addRow("Format", self.format)
        form.addRow("", self.format_note)
        form.addRow("", self.corrected_only)
        form.addRow("Min confidence", self.min_conf)
        form.addRow("De-duplicate", self.dedupe)
        form.addRow("Max frames per shot", self.max_per_shot)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        # Exporting while layers are out of date is allowed, but never silently.
        left = controller.work_left
        pending = [f"{left[k]} frame{'s' if left[k] != 1 else ''} {word}" for k, word in (("stale", "stale"), ("missing", "not computed"),
                                                               ("running", "still running")) if left.get(k)]
        self.stale_warning = QLabel("Not up to date: " + ", ".join(pending) + ". Their layers are exported as they "
                                    "are now; wait for the pipeline to finish for fresh ones." if pending else "")
        self.stale_warning.setWordWrap(True)
        self.stale_warning.setStyleSheet("color: #e0b040;")
        self.stale_warning.setVisible(bool(pending))
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.stale_warning)
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
        self._remember(out, options)
        parent = self.parentWidget() or self
        objects = len(project.manifest.objects)

        def work(progress: Any, cancelled: Any) -> dict[str, Any]:
            from app.export import export_project

            return export_project(project, out, progress=progress, cancel=cancelled, **options)

        def done(summary: dict[str, Any]) -> None:
            self.c.status.emit(f"Exported to {out}.")
            self.summary_dialog = ExportSummary(summary, out, objects, options, parent)
            self.summary_dialog.open()

        run_with_progress(parent, f"Exporting {options['format']}...", work, done, lambda exc: show_error(parent, exc))
        super().accept()


def summary_lines(summary: dict[str, Any], objects: int, options: dict[str, Any]) -> list[str]:
    """What an export wrote, in sentences: files, frames, objects, and what was skipped and why."""
    files, frames = int(summary.get("files", 0)), int(summary.get("frames", 0))
    written, skipped = int(summary.get("written", files)), int(summary.get("skipped", 0))
    lines = [f"{files} files for {frames} frames and {objects} object{'s' if objects != 1 else ''} "
             f"({summary.get('format', options.get('format', ''))})."]
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

    def __init__(self, summary: dict[str, Any], out: Path, objects: int, options: dict[str, Any],
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


class ShortcutsDialog(QDialog):
    """Every key and canvas gesture in one table (Help > Keyboard shortcuts, F1)."""

    def __init__(self, rows: list[tuple[str, str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(720, 640)
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Where", "Keys", "Does"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        for r, row in enumerate(rows):
            for col, text in enumerate(row):
                self.table.setItem(r, col, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.resizeRowsToContents()
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(close)
