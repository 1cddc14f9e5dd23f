"""The frame view's tools, by the controller's tool name (see `app.ui.tools.base`)."""

from __future__ import annotations

from app.ui.tools.base import DRAG_THRESHOLD, Interaction, crosshair
from app.ui.tools.box import BoxTool
from app.ui.tools.brush import BrushTool, EraserTool
from app.ui.tools.point import PointTool

TOOLS: dict[str, type[Interaction]] = {tool.name: tool for tool in (PointTool, BoxTool, BrushTool, EraserTool)}

__all__ = ["DRAG_THRESHOLD", "TOOLS", "BoxTool", "BrushTool", "EraserTool", "Interaction", "PointTool", "crosshair"]
