"""Frame sources: random access to the frames of a video (PyAV) or an image folder.

Below both the store (a project reads its source frames through these) and ingest (the importer
writes a source into a new project), so neither imports the other: ingest -> store -> sources.
"""
