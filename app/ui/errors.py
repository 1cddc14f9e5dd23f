"""User-facing error dialogs: every `CelstudioError` shows its one-sentence message."""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QMessageBox, QWidget

from app.errors import CelstudioError, ProjectDamaged

log = logging.getLogger(__name__)


def show_error(parent: QWidget | None, exc: BaseException) -> None:
    """A `CelstudioError` shows as written; anything else is a bug, logged with its traceback."""
    if isinstance(exc, CelstudioError):
        QMessageBox.critical(parent, "Celstudio", str(exc))
    else:
        log.error("unexpected error", exc_info=exc)
        QMessageBox.critical(parent, "Celstudio", f"Something went wrong: {type(exc).__name__}: {exc}")


def ask_recover(parent: QWidget | None, exc: ProjectDamaged) -> bool:
    """Offer to rebuild a damaged project from its journal (or, for damaged media, from its source);
    True if the user accepts."""
    media = exc.recoverable.startswith("media")
    box = QMessageBox(QMessageBox.Icon.Warning, "Damaged project", str(exc), parent=parent)
    label = "Re-import media from source" if media else "Recover from journal"
    recover = box.addButton(label, QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(recover)
    box.exec()
    return box.clickedButton() is recover


def ask_open_read_only(parent: QWidget | None, exc: CelstudioError) -> bool:
    """Say why the project cannot be opened for editing (open in another window, with its process
    id, or a read-only folder) and offer to open it read-only; True if the user accepts."""
    box = QMessageBox(QMessageBox.Icon.Information, "Project in use", str(exc), parent=parent)
    read_only = box.addButton("Open read-only", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(read_only)
    box.exec()
    return box.clickedButton() is read_only
