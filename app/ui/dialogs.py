"""Settings (backend per stage, device, batch size), Models (list and download) and Export dialogs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from PySide6.QtGui import QStandardItemModel
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
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.controller import MainController
from app.ui.errors import show_error
from app.ui.workers import run_with_progress

ROLE_LABELS = {"segmenter": "Segment", "propagator": "Propagate", "matter": "Matte", "inpainter": "Inpaint",
               "effects": "Effects", "clicker": "Click correction", "annotator": "Annotate"}
DEVICES = ("auto", "cpu", "cuda", "mps")


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
            model = cast(QStandardItemModel, combo.model())
            for i, spec in enumerate(backends(role)):  # type: ignore[arg-type]
                ok, reason = availability(spec, manager)
                combo.addItem(spec.label if ok else f"{spec.label} (not installed)", spec.name)
                item = model.item(i)
                item.setEnabled(ok)
                item.setToolTip(reason or "ready")
                if spec.name == chosen.get(role, "classical") and ok:
                    combo.setCurrentIndex(i)
            form.addRow(label, combo)
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
        layout = QVBoxLayout(self)
        layout.addWidget(box)
        layout.addWidget(run)
        layout.addWidget(buttons)

    def values(self) -> dict[str, Any]:
        return {"backends": {role: str(combo.currentData()) for role, combo in self.combos.items()},
                "device": self.device.currentText(), "batch_size": self.batch.value()}

    def accept(self) -> None:
        self.c.apply_settings(self.values())
        super().accept()


class ModelsDialog(QDialog):
    """The model catalog with install state; downloads run in the background with progress."""

    def __init__(self, parent: QWidget | None = None, manager: Any = None) -> None:
        super().__init__(parent)
        from models.manager import ModelManager

        self.manager = manager if manager is not None else ModelManager()
        self.setWindowTitle("Models")
        self.resize(720, 420)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Model", "Role", "Size", "State", "License"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.download = QPushButton("Download selected")
        self.download.clicked.connect(self._download)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.download)
        row.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addLayout(row)
        self.refresh()

    def refresh(self) -> None:
        rows = self.manager.list()
        self.table.setRowCount(len(rows))
        for r, m in enumerate(rows):
            size = f"{m.size / 2**20:.0f} MiB" if m.size else "?"
            state = "verified" if m.verified else "installed" if m.installed else "not installed"
            for col, text in enumerate((m.name, m.role, size, state, m.license)):
                self.table.setItem(r, col, QTableWidgetItem(text))

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
    """Export the project as a dataset (format and frame selection), in the background."""

    def __init__(self, controller: MainController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from app.export import format_names

        self.c = controller
        self.setWindowTitle("Export dataset")
        project = controller.project
        default = (project.root / "export") if project is not None else Path.home()
        self.out = QLineEdit(str(default))
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out, 1)
        out_row.addWidget(browse)
        self.format = QComboBox()
        self.format.addItems(format_names())
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
        form = QFormLayout()
        form.addRow("Folder", out_row)
        form.addRow("Format", self.format)
        form.addRow("", self.corrected_only)
        form.addRow("Min confidence", self.min_conf)
        form.addRow("De-duplicate", self.dedupe)
        form.addRow("Max frames per shot", self.max_per_shot)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into")
        if folder:
            self.out.setText(folder)

    def options(self) -> dict[str, Any]:
        return {"format": self.format.currentText(), "corrected_only": self.corrected_only.isChecked(),
                "min_confidence": self.min_conf.value(), "dedupe": self.dedupe.value(),
                "max_per_shot": self.max_per_shot.value()}

    def accept(self) -> None:
        project = self.c.project
        if project is None:
            return
        out, options = Path(self.out.text()), self.options()
        parent = self.parentWidget() or self

        def work(progress: Any, cancelled: Any) -> dict[str, Any]:
            from app.export import export_project

            return export_project(project, out, progress=progress, cancel=cancelled, **options)

        def done(summary: dict[str, Any]) -> None:
            self.c.status.emit(f"Exported to {out}.")
            QMessageBox.information(parent, "Export finished", f"Exported {options['format']} to {out}.")

        run_with_progress(parent, f"Exporting {options['format']}...", work, done, lambda exc: show_error(parent, exc))
        super().accept()
