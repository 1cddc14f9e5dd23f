"""The error types the backends raise, defined here because models sit below app.

`app.errors` re-exports them, so app code and users of the app see one `CelstudioError` hierarchy;
models never import app.
"""

from __future__ import annotations


class CelstudioError(Exception):
    """A failure with a message written for the user."""


class ModelUnavailable(CelstudioError):
    """A model's weights are missing or corrupt; the weight-free backend stays in use."""
