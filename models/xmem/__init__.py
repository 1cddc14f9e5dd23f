"""XMem video object segmentation (hkchengrex/XMem layout), used as the "propagator" backend."""

from __future__ import annotations

from models.xmem.propagator import XMemPropagator

__all__ = ["XMemPropagator"]
