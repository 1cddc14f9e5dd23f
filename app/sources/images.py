"""Image folders as frame sources: png, jpg, webp; 8/16-bit, grayscale and RGBA become RGB uint8."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Self

import numpy as np

from app.errors import InputError
from app.sources.cache import FrameCache
from app.sources.common import DEFAULT_IMAGE_FPS, SourceKind, check_index, frame_size_error, natural_key

if TYPE_CHECKING:
    from PIL import Image as PILImage

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})


def image_files(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    files.sort(key=lambda p: natural_key(p.name))
    return files


def to_rgb8(array: np.ndarray) -> np.ndarray:
    """Convert gray / gray+alpha / RGB / RGBA of 8 or 16 bits to RGB uint8 (alpha is dropped)."""
    a = np.asarray(array)
    if a.dtype == np.uint16 or a.dtype == np.int32 or a.dtype == np.uint32:
        # 16-bit samples: keep the high byte with rounding, so 65535 -> 255 and 0 -> 0.
        a = ((a.astype(np.uint32) + 128) // 257).clip(0, 255).astype(np.uint8)
    elif a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif a.dtype != np.uint8:
        raise InputError(f"Images with {a.dtype} samples are not supported.")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 2:
        a = np.repeat(a[:, :, :1], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    if a.ndim != 3 or a.shape[2] != 3:
        raise InputError(f"Images of shape {array.shape} are not supported.")
    return np.ascontiguousarray(a)


@contextmanager
def open_image(path: Path, folder: Path) -> Iterator[PILImage.Image]:
    """Open an image (header only) after checking its declared size against Celstudio's limits.

    PIL's own decompression-bomb guard warns (two lines on stderr) or raises a bare exception; both
    are replaced by one `InputError` naming the file, raised before any pixel is decoded.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise InputError(
            f"The image {path.name} in {folder} declares a size far larger than Celstudio reads."
        ) from exc
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise InputError(f"The image {path.name} in {folder} cannot be read.") from exc
    with opened:
        problem = frame_size_error(f"The image {path.name} in {folder}", *opened.size)
        if problem:
            raise InputError(problem)
        yield opened


class ImageFolderSource:
    """A folder of same-sized png/jpg/webp images in natural name order.

    Parameters
    ----------
    folder : Path
        The folder; other files in it are ignored.
    cache_frames : int
        How many decoded frames the LRU cache keeps.
    fps : float
        The frame rate to report (image folders carry none).
    """

    def __init__(self, folder: Path, *, cache_frames: int = 32, fps: float = DEFAULT_IMAGE_FPS) -> None:
        from PIL import UnidentifiedImageError

        self.path = Path(folder)
        self.files = image_files(self.path)
        if not self.files:
            raise InputError(f"The folder {self.path} has no png, jpg or webp images.")
        sizes: dict[tuple[int, int], str] = {}
        for f in self.files:
            try:
                with open_image(f, self.path) as im:
                    size = im.size
                    # EXIF orientations 5-8 are rotated by 90 degrees when loaded.
                    if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):
                        size = (size[1], size[0])
            except (OSError, UnidentifiedImageError, ValueError) as exc:
                raise InputError(f"The image {f.name} in {self.path} cannot be read.") from exc
            sizes.setdefault(size, f.name)
            if len(sizes) > 1:
                (w0, h0), n0 = next(iter(sizes.items()))
                raise InputError(
                    f"All images in a folder must have the same size, but {n0} is {w0}x{h0} "
                    f"and {f.name} is {size[0]}x{size[1]}."
                )
        (self.width, self.height) = next(iter(sizes))
        self.frame_count = len(self.files)
        self.fps = float(fps)
        self.kind: SourceKind = "images"
        self.codec = ""
        self.pix_fmt = ""
        self.gop = 1
        self._cache = FrameCache(cache_frames)

    def __len__(self) -> int:
        return self.frame_count

    def _load(self, index: int) -> np.ndarray:
        from PIL import Image, ImageOps, UnidentifiedImageError

        f = self.files[index]
        try:
            with open_image(f, self.path) as opened:
                im: Image.Image = ImageOps.exif_transpose(opened)
                if im.mode == "P":
                    im = im.convert("RGBA" if "transparency" in im.info else "RGB")
                elif im.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                    im = im.convert("RGB")
                array = np.array(im)  # a copy the caller owns (PIL's own buffer is read-only)
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise InputError(f"The image {f.name} in {self.path} cannot be read.") from exc
        rgb = to_rgb8(array)
        if rgb.shape[:2] != (self.height, self.width):
            raise InputError(f"The image {f.name} changed size since the folder was opened.")
        return rgb

    def get(self, index: int) -> np.ndarray:
        """Return frame `index` as RGB uint8 (H, W, 3)."""
        index = check_index(index, self.frame_count)
        hit = self._cache.get(index)
        if hit is not None:
            return hit.copy()
        frame = self._load(index)
        if self._cache.capacity:
            self._cache.put(index, frame.copy())
        return frame

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(self.frame_count):
            yield self._load(i)

    def close(self) -> None:
        self._cache.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
