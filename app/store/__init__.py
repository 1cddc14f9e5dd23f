"""The project store: a folder with a manifest, layer arrays and their index, a media file and a journal."""

from app.store.edits import JournalEntry, MaskEdit
from app.store.events import Committed, EventHub, LayerWritten, ManifestChanged
from app.store.journal import Journal
from app.store.layers import LAYERS, LayerStore
from app.store.manifest import Manifest, ObjectInfo, Shot, SourceInfo
from app.store.media import MediaStore
from app.store.project import Project

__all__ = [
    "LAYERS",
    "Committed",
    "EventHub",
    "Journal",
    "JournalEntry",
    "LayerStore",
    "LayerWritten",
    "Manifest",
    "ManifestChanged",
    "MaskEdit",
    "MediaStore",
    "ObjectInfo",
    "Project",
    "Shot",
    "SourceInfo",
]
