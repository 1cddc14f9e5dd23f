"""Plain-language names of pipeline roles and what each catalogued model is and would improve.

Shared by the Settings and Models dialogs (no Qt here). Model names are the catalog's keys
(`models.catalog.CATALOG`); a model missing here still shows, with its role's description.
"""

from __future__ import annotations

ROLE_TEXT: dict[str, tuple[str, str]] = {
    # role: (plain name, what it does)
    "segmenter": ("Find objects", "Splits each frame into characters, props and background."),
    "propagator": ("Track objects through a shot", "Carries your corrections and the found objects from frame to frame."),
    "matter": ("Cut out characters", "Soft edges (hair, motion blur) for the character RGBA layer."),
    "inpainter": ("Clean plate", "Paints characters and effects out of the background."),
    "effects": ("Find effects", "Marks sparkles, smoke, speed lines and glows as their own layer."),
    "clicker": ("Click corrections", "Turns your clicks and boxes into an object's mask."),
    "annotator": ("Tags and captions", "Writes the tags and captions the dataset export uses."),
}
ROLE_ORDER = ("segmenter", "clicker", "propagator", "matter", "effects", "inpainter", "annotator")

MODEL_TEXT: dict[str, tuple[str, str]] = {
    # name: (what it is, what installing it improves over the weight-free default)
    "animeface-cascade": ("Anime face detector (a small OpenCV cascade).",
                          "Finds characters by their faces, so fewer are missed or merged."),
    "sam-vit-b": ("Segment Anything, base size.", "Click corrections follow outlines in one or two clicks."),
    "sam-vit-l": ("Segment Anything, large.", "Click corrections, more precise than base; slower."),
    "sam-vit-h": ("Segment Anything, huge.", "The most precise click corrections; needs a large GPU."),
    "xmem": ("XMem video object tracker.", "Tracking through fast motion and occlusion, with less drift."),
    "big-lama": ("LaMa inpainting (big).", "Cleaner backgrounds behind characters, fewer smears."),
    "u2net": ("U2-Net salient object matting.", "Softer character edges than the weight-free matte."),
    "isnet-anime": ("ISNet trained on anime characters.", "The best character cut-outs for anime."),
    "isnet-general": ("ISNet, general images.", "Soft edges for non-anime footage."),
    "modnet": ("MODNet portrait matting.", "Soft hair edges on portrait-like shots; small and fast."),
    "mask2former-swin-tiny": ("Mask2Former panoptic segmentation, tiny.", "Object finding beyond faces; fast."),
    "mask2former-swin-large": ("Mask2Former panoptic segmentation, large.", "The most complete object finding."),
    "clipseg": ("CLIPSeg text-prompted segmentation.", "Finds effects by description (smoke, sparkles)."),
    "clip-vit-base-patch32": ("CLIP, base.", "Tags characters and scenes for captions."),
    "clip-vit-large-patch14": ("CLIP, large.", "More accurate tags than CLIP base."),
    "dinov2-small": ("DINOv2 features, small.", "Recognises the same character across shots."),
    "dinov2-base": ("DINOv2 features, base.", "Better character identity across shots."),
    "blip2-opt-2.7b": ("BLIP-2 captioner (15 GB).", "Full-sentence captions instead of tag lists."),
}


def role_name(role: str) -> str:
    return ROLE_TEXT.get(role, (role.title(), ""))[0]


def model_text(name: str, role: str) -> tuple[str, str]:
    """``(description, what it improves)`` for a catalog entry."""
    if name in MODEL_TEXT:
        return MODEL_TEXT[name]
    return (f"A model for {role_name(role).lower()}.", ROLE_TEXT.get(role, ("", ""))[1])


def human_size(size: int | None, exact: bool = True) -> str:
    """``240 KiB`` / ``358 MiB`` / ``2.4 GiB``; never "0 MiB" for a small file; ``~`` when approximate."""
    if not size:
        return "unknown"
    prefix = "" if exact else "~"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            value = size / scale
            return f"{prefix}{value:.1f} {unit}" if value < 10 else f"{prefix}{value:.0f} {unit}"
    return f"{size} bytes"
