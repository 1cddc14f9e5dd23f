"""Settings (backend per stage, device, batch size), Models (list and download) and the keyboard
shortcut sheet. The Export dialog is `app.ui.export_dialog`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
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
