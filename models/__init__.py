"""Model backends: one module per model family, no Qt, lazily imported through `models.registry`."""
