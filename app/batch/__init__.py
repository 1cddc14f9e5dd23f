"""Batch runs of whole seasons: shots computed by Ray workers, applied by each project's one writer."""
