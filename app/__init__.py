"""Celstudio: turn anime video into clean, layered training data."""

__version__ = "0.1.0"
