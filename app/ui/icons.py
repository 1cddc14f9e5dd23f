"""Icons (small SVGs in ``resources/icons``) and the dark theme (``resources/dark.qss``)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

RESOURCES = Path(__file__).resolve().parents[2] / "resources"


@cache
def icon(name: str) -> QIcon:
    """The icon ``resources/icons/<name>.svg`` (an empty icon if it is missing)."""
    path = RESOURCES / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


def apply_dark_theme(app: QApplication) -> None:
    """Fusion style, a dark palette (for what the stylesheet does not reach) and the stylesheet."""
    app.setStyle("Fusion")
    pal = QPalette()
    for role, color in (
        (QPalette.ColorRole.Window, QColor(30, 31, 35)), (QPalette.ColorRole.WindowText, QColor(220, 221, 225)),
        (QPalette.ColorRole.Base, QColor(22, 23, 26)), (QPalette.ColorRole.AlternateBase, QColor(32, 33, 38)),
        (QPalette.ColorRole.Text, QColor(220, 221, 225)), (QPalette.ColorRole.Button, QColor(47, 50, 56)),
        (QPalette.ColorRole.ButtonText, QColor(220, 221, 225)), (QPalette.ColorRole.Highlight, QColor(58, 110, 165)),
        (QPalette.ColorRole.HighlightedText, QColor(255, 255, 255)), (QPalette.ColorRole.ToolTipBase, QColor(47, 50, 56)),
        (QPalette.ColorRole.ToolTipText, QColor(255, 255, 255)), (QPalette.ColorRole.PlaceholderText, QColor(120, 122, 128)),
    ):
        pal.setColor(role, color)
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor(108, 111, 119))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor(108, 111, 119))
    app.setPalette(pal)
    qss = RESOURCES / "dark.qss"
    if qss.is_file():
        app.setStyleSheet(qss.read_text(encoding="utf-8"))
