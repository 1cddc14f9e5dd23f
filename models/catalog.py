"""The table of model weights Celstudio knows how to fetch and verify.

Each `ModelEntry` names one downloadable artifact: a single weights file (``pth``, ``ckpt``,
``torchscript``) or a Hugging Face repository folder (``hf-folder``, a list of files fetched from
``{url}/resolve/{revision}/{file}``).

Checksums are only ever the *published* ones. Where a project publishes no checksum, ``sha256`` is
``None`` and the first verified download records the hash in the weights folder's lock file (trust on
first use); see ``docs/models.md``. ``size`` is the published size in bytes where known, otherwise an
approximation used only for display and progress (``size_exact`` says which).

Longer than most modules because it is one data table, an entry per artifact; the code is
`ModelEntry` and three small constructors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from models.base import Role

Format = Literal["pth", "ckpt", "torchscript", "hf-folder", "cascade-xml"]

_HF = "https://huggingface.co"
_SAM = "https://dl.fbaipublicfiles.com/segment_anything"


@dataclass(frozen=True)
class ModelEntry:
    """One known model artifact.

    Attributes
    ----------
    name : str
        Catalog key used on the command line (``celstudio models download NAME``).
    role, backend : str
        The registry role and backend name this artifact serves.
    url : str
        Download URL of the file, or the repository URL for ``hf-folder`` entries.
    size : int | None
        Bytes (all files together for folders); approximate unless ``size_exact``.
    sha256 : str | None
        Published SHA-256 of the file; ``None`` when none is published (trust on first use).
    license : str
        The weights' license as stated by their publisher.
    format : Format
        How the weights are stored.
    filename : str
        Installed file name (or folder name for ``hf-folder``) under the weights folder.
    files, optional_files : tuple[str, ...]
        Files of an ``hf-folder`` entry; optional ones are skipped when the server has none (404).
    md5 : str | None
        Published MD5 where that is the only published checksum (checked in addition to TOFU).
    revision : str
        Hugging Face revision for ``hf-folder`` entries.
    """

    name: str
    role: Role
    backend: str
    url: str
    size: int | None
    sha256: str | None
    license: str
    format: Format
    filename: str
    files: tuple[str, ...] = ()
    optional_files: tuple[str, ...] = ()
    md5: str | None = None
    revision: str = "main"
    size_exact: bool = False
    note: str = ""

    def file_urls(self) -> list[tuple[str, str, bool]]:
        """``(relative_path, url, required)`` for every file this entry installs."""
        if self.format != "hf-folder":
            return [(self.filename, self.url, True)]
        base = f"{self.url.rstrip('/')}/resolve/{self.revision}"
        return [(f, f"{base}/{f}", True) for f in self.files] + [
            (f, f"{base}/{f}", False) for f in self.optional_files
        ]


_HF_MODEL = ("config.json", "preprocessor_config.json", "model.safetensors")
_CLIP_TOKENIZER = ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")


def _hf(
    name: str,
    role: Role,
    backend: str,
    repo: str,
    size: int | None,
    license: str,
    files: tuple[str, ...],
    optional: tuple[str, ...] = (),
) -> ModelEntry:
    return ModelEntry(
        name=name,
        role=role,
        backend=backend,
        url=f"{_HF}/{repo}",
        size=size,
        sha256=None,
        license=license,
        format="hf-folder",
        filename=name,
        files=files,
        optional_files=optional,
    )


def _sam(size: str, md5_prefix: str, length: int, sha256: str) -> ModelEntry:
    """An official Segment Anything checkpoint (``size`` is ``b``, ``l`` or ``h``)."""
    filename = f"sam_vit_{size}_{md5_prefix}.pth"
    return ModelEntry(f"sam-vit-{size}", "clicker", "sam", f"{_SAM}/{filename}", length, sha256, "Apache-2.0",
                      "pth", filename, size_exact=True)


CATALOG: tuple[ModelEntry, ...] = (
    # nagadomi's anime face cascade: optional help for the classical segmenter on still pictures
    # (models/classical/faces.py looks for it in the weights folder).
    ModelEntry(
        "animeface-cascade",
        "segmenter",
        "classical",
        "https://raw.githubusercontent.com/nagadomi/lbpcascade_animeface/master/lbpcascade_animeface.xml",
        246_945,
        None,
        "MIT",
        "cascade-xml",
        "lbpcascade_animeface.xml",
    ),
    # Segment Anything: checksums and sizes published widely for the official files; the file names
    # embed the first hex digits of the file's MD5.
    _sam("b", "01ec64", 375_042_383, "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912"),
    _sam("l", "0b3195", 1_249_524_607, "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622"),
    _sam("h", "4b8939", 2_564_550_879, "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e"),
    ModelEntry(
        "xmem",
        "propagator",
        "xmem",
        "https://github.com/hkchengrex/XMem/releases/download/v1.0/XMem.pth",
        249_000_000,
        None,
        "GPL-3.0",
        "pth",
        "XMem.pth",
    ),
    # The TorchScript export of big-lama distributed by lama-cleaner / IOPaint; its MD5 is published.
    ModelEntry(
        "big-lama",
        "inpainter",
        "lama",
        "https://github.com/Sanster/models/releases/download/add_big_lama/big-lama.pt",
        205_000_000,
        None,
        "Apache-2.0",
        "torchscript",
        "big-lama.pt",
        md5="e3aa4aaa15225a33ec84f9f4bc47e500",
    ),
    # U^2-Net is published on Google Drive only; this is the direct-download form of that file.
    ModelEntry(
        "u2net",
        "matter",
        "u2net",
        "https://drive.usercontent.google.com/download?id=1ao1ovG1Qtx4b7EoskHXmi2E9rp5CHLcZ"
        "&export=download&confirm=t",
        176_290_937,
        None,
        "Apache-2.0",
        "pth",
        "u2net.pth",
    ),
    # ISNet trained on anime characters (SkyTNT/anime-segmentation): the default ISNet weights.
    ModelEntry(
        "isnet-anime",
        "matter",
        "isnet",
        f"{_HF}/skytnt/anime-seg/resolve/main/isnetis.ckpt",
        176_000_000,
        None,
        "Apache-2.0",
        "ckpt",
        "isnetis.ckpt",
    ),
    # DIS general-use weights (official link is Google Drive; this is a Hugging Face mirror).
    ModelEntry(
        "isnet-general",
        "matter",
        "isnet",
        f"{_HF}/NimaBoscarino/IS-Net_DIS-general-use/resolve/main/isnet-general-use.pth",
        177_000_000,
        None,
        "Apache-2.0",
        "pth",
        "isnet-general-use.pth",
    ),
    # MODNet is published on Google Drive; this is the widely used Hugging Face mirror.
    ModelEntry(
        "modnet",
        "matter",
        "modnet",
        f"{_HF}/DavG25/modnet-pretrained-models/resolve/main/models/"
        "modnet_photographic_portrait_matting.ckpt",
        26_000_000,
        None,
        "Apache-2.0",
        "ckpt",
        "modnet_photographic_portrait_matting.ckpt",
    ),
    _hf(
        "mask2former-swin-tiny",
        "segmenter",
        "mask2former",
        "facebook/mask2former-swin-tiny-coco-panoptic",
        190_000_000,
        "other (see model card)",
        _HF_MODEL,
    ),
    _hf(
        "mask2former-swin-large",
        "segmenter",
        "mask2former",
        "facebook/mask2former-swin-large-coco-panoptic",
        870_000_000,
        "other (see model card)",
        _HF_MODEL,
    ),
    _hf(
        "clipseg",
        "effects",
        "clipseg",
        "CIDAS/clipseg-rd64-refined",
        603_000_000,
        "see model card",
        (*_HF_MODEL, *_CLIP_TOKENIZER),
        ("tokenizer.json",),
    ),
    _hf(
        "clip-vit-base-patch32",
        "annotator",
        "clip",
        "openai/clip-vit-base-patch32",
        605_000_000,
        "MIT",
        (*_HF_MODEL, *_CLIP_TOKENIZER),
        ("tokenizer.json",),
    ),
    _hf(
        "clip-vit-large-patch14",
        "annotator",
        "clip",
        "openai/clip-vit-large-patch14",
        1_710_000_000,
        "MIT",
        (*_HF_MODEL, *_CLIP_TOKENIZER),
        ("tokenizer.json",),
    ),
    # LAION's aesthetic head on CLIP ViT-L/14 embeddings: an optional extra of the annotator that
    # replaces the weight-free aesthetic proxy in the quality signals (models/aesthetic.py).
    ModelEntry(
        "aesthetic-l14",
        "annotator",
        "clip",
        "https://github.com/christophschuhmann/improved-aesthetic-predictor/raw/main/sac+logos+ava1-l14-linearMSE.pth",
        3_700_000,
        None,
        "Apache-2.0",
        "pth",
        "sac+logos+ava1-l14-linearMSE.pth",
        note="needs the CLIP ViT-L/14 annotator",
    ),
    # DINOv2 and BLIP-2 are optional extras of the annotator (embeddings, captions).
    _hf(
        "dinov2-small",
        "annotator",
        "clip",
        "facebook/dinov2-small",
        88_000_000,
        "Apache-2.0",
        _HF_MODEL,
    ),
    _hf(
        "dinov2-base",
        "annotator",
        "clip",
        "facebook/dinov2-base",
        346_000_000,
        "Apache-2.0",
        _HF_MODEL,
    ),
    _hf(
        "blip2-opt-2.7b",
        "annotator",
        "clip",
        "Salesforce/blip2-opt-2.7b",
        15_500_000_000,
        "MIT",
        (
            "config.json",
            "preprocessor_config.json",
            "model.safetensors.index.json",
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors",
            "tokenizer_config.json",
            "special_tokens_map.json",
            "vocab.json",
            "merges.txt",
        ),
        ("tokenizer.json", "processor_config.json", "generation_config.json", "added_tokens.json"),
    ),
)


def catalog_by_name(entries: tuple[ModelEntry, ...] = CATALOG) -> dict[str, ModelEntry]:
    """The entries keyed by name (names are unique)."""
    table = {e.name: e for e in entries}
    if len(table) != len(entries):
        raise ValueError("duplicate model names in catalog")
    return table
