"""View state: which layers show, their opacity, solo and the compare modes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.ui.controller.core import Compare
from app.ui.render import LAYER_ORDER

if TYPE_CHECKING:  # each mixin type-checks against the state it works on
    from app.ui.controller.core import ControllerCore as _Base
else:
    _Base = object


class ViewStateMixin(_Base):
    """What the frame view shows; nothing here touches the project."""

    def set_layer_visible(self, layer: str, visible: bool) -> None:
        self.layers[layer].visible = visible
        self.layers_changed.emit()

    def toggle_layer(self, layer: str) -> None:
        self.set_layer_visible(layer, not self.layers[layer].visible)

    def set_layer_opacity(self, layer: str, opacity: float) -> None:
        self.layers[layer].opacity = max(0.0, min(1.0, opacity))
        self.layers_changed.emit()

    def set_solo(self, layer: str | None) -> None:
        self.solo = None if layer == self.solo else layer
        self.layers_changed.emit()

    def is_shown(self, layer: str) -> bool:
        if self.solo is not None:
            return layer == self.solo
        if self.compare == "ab" and layer in ("image", "clean"):
            return (layer == "clean") == self.ab_show_clean
        return self.layers[layer].visible

    def shown_layers(self) -> tuple[str, ...]:
        shown = tuple(name for name in LAYER_ORDER if self.is_shown(name))
        return (*shown, "clean") if self.compare == "side" and "clean" not in shown else shown

    def set_compare(self, mode: Compare) -> None:
        self.compare = mode
        self.layers_changed.emit()

    def flip_ab(self) -> None:
        self.ab_show_clean = not self.ab_show_clean
        if self.compare != "ab":
            self.compare = "ab"
        self.layers_changed.emit()


    def set_mark_invented(self, on: bool) -> None:
        """Hatch (or not) the clean plate's pixels no frame of the shot shows."""
        self.mark_invented = on
        if self.loader is not None:
            self.loader.set_mark_invented(on)
        self.layers_changed.emit()
