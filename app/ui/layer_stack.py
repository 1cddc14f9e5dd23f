"""The frame view's scene content: one pixmap item per layer over a checkerboard, and the clean plate
beside the frame in side-by-side compare mode. Knows nothing of gestures or loading."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPen, QPixmap
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsRectItem, QGraphicsScene, QGraphicsSimpleTextItem

from app.ui.controller import MainController
from app.ui.loader import FrameImages
from app.ui.render import LAYER_ORDER, checkerboard, to_qimage

SIDE_GAP = 24  # scene px between the frame and the clean plate in side-by-side mode


class LayerStack:
    """The layer items of ``scene`` in full-resolution frame coordinates (z order = `LAYER_ORDER`)."""

    def __init__(self, scene: QGraphicsScene) -> None:
        self.scene = scene
        self.layer_items: dict[str, QGraphicsPixmapItem] = {}
        for z, name in enumerate(LAYER_ORDER):
            item = QGraphicsPixmapItem()
            item.setZValue(z)
            item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
            scene.addItem(item)
            self.layer_items[name] = item
        # Transparency shows as a checkerboard (under every layer) whenever no opaque frame is shown.
        self.checker = QGraphicsRectItem()
        self.checker.setPen(QPen(Qt.PenStyle.NoPen))
        self.checker_brush = QBrush(QPixmap.fromImage(to_qimage(checkerboard(32, 32))))
        self.checker.setBrush(self.checker_brush)
        self.checker.setZValue(-1)
        scene.addItem(self.checker)
        self.side = QGraphicsPixmapItem()
        self.side_label = QGraphicsSimpleTextItem("B: clean plate")
        self.main_label = QGraphicsSimpleTextItem("A: frame")
        for label in (self.side_label, self.main_label):
            label.setBrush(QColor(220, 220, 220))
        for extra in (self.side, self.side_label, self.main_label):
            scene.addItem(extra)
            extra.setVisible(False)
        self._keys: dict[str, int] = {}
        # The frame each layer's picture is of: a layer not loaded for the frame shown keeps its last
        # picture (a solo switched on after a frame change showed an empty frame for seconds under load).
        self.frames: dict[str, int] = {}

    def clear(self) -> None:
        self._keys.clear()
        self.frames.clear()
        for item in self.layer_items.values():
            item.setPixmap(QPixmap())

    def layout(self, width: int, height: int, side: bool) -> None:
        """Place the frame (and with ``side`` the clean plate and both labels) and size the scene."""
        self.checker.setRect(QRectF(0, 0, width, height))
        for item in (self.side, self.side_label, self.main_label):
            item.setVisible(side)
        self.side.setPos(width + SIDE_GAP, 0)
        self.side_label.setPos(width + SIDE_GAP, -22)
        self.main_label.setPos(0, -22)
        for label in (self.side_label, self.main_label):
            label.setScale(max(1.0, width / 900))
        scene_w = width * 2 + SIDE_GAP if side else width
        self.scene.setSceneRect(QRectF(0, -26 if side else 0, scene_w, height + (26 if side else 0)))

    def set_images(self, entry: FrameImages, width: int, side: bool) -> None:
        """Put ``entry``'s images into the items, scaled to ``width``; pixmaps are rebuilt only for new
        images (a pixmap upload per layer per frame is what makes scrubbing stutter). A layer ``entry``
        has not loaded keeps the picture it has (`frames` says of which frame) until one that has comes."""
        scale = width / max(1, entry.size[0])
        for name, item in self.layer_items.items():
            if name not in entry.images:
                continue
            image = entry.images[name]
            key = image.cacheKey() if image is not None else 0
            if self._keys.get(name) != key:
                item.setPixmap(QPixmap.fromImage(image) if image is not None else QPixmap())
                self._keys[name] = key
            item.setScale(scale)
            self.frames[name] = entry.frame
        clean = entry.images.get("clean")
        if side and self._keys.get("side") != (clean.cacheKey() if clean else 0):
            self.side.setPixmap(QPixmap.fromImage(clean) if clean is not None else QPixmap())
            self._keys["side"] = clean.cacheKey() if clean else 0
        self.side.setScale(scale)

    def apply_visibility(self, c: MainController) -> None:
        """Show what the controller's layer state says; the checkerboard only under a see-through stack."""
        for name, item in self.layer_items.items():
            item.setVisible(c.is_shown(name) and not item.pixmap().isNull())
            item.setOpacity(c.layers[name].opacity)
        opaque = any(self.layer_items[n].isVisible() and c.layers[n].opacity >= 0.99 for n in ("image", "clean"))
        self.checker.setVisible(c.project is not None and not opaque)
        # Light reads best on black (as it would be added to it); everything else over the checkerboard.
        self.checker.setBrush(QBrush(QColor(0, 0, 0)) if c.solo == "effects" else self.checker_brush)
