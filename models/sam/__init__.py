"""Segment Anything, the deep ``clicker`` backend.

- `architecture`: the architecture read from a checkpoint's tensor shapes; builds the official model;
- `engines`: pre/post-processing and the two weight formats (official, Hugging Face) behind one interface;
- `clicker`: `SamClicker`, the backend (embedding cache, clicks + box + prior mask -> a mask).
"""

from __future__ import annotations

from models.sam.clicker import SamClicker

__all__ = ["SamClicker"]
