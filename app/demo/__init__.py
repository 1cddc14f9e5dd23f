"""The demo generator: anime-style shots with exact ground truth, and the ``projects/demo`` project."""

from app.demo.generator import LABEL_THRESHOLD, GeneratedFrame, GeneratedVideo, generate_shots
from app.demo.groundtruth import GroundTruth, load_ground_truth, save_ground_truth
from app.demo.project import GROUND_TRUTH_FILE, create_demo_project, ensure_demo_project

__all__ = [
    "GROUND_TRUTH_FILE",
    "LABEL_THRESHOLD",
    "GeneratedFrame",
    "GeneratedVideo",
    "GroundTruth",
    "create_demo_project",
    "ensure_demo_project",
    "generate_shots",
    "load_ground_truth",
    "save_ground_truth",
]
