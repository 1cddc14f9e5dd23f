"""U^2-Net, IS-Net (DIS and anime), MODNet and LaMa: our full path against the official procedure.

Each test writes a seeded random checkpoint in the official layout, runs our backend's full path
(preprocess -> network -> postprocess) on an input whose size needs resizing or padding, and compares
it with a re-statement, written here from the official scripts' documented behaviour, of what the
official inference does with the same network:

- U^2-Net ``u2net_test.py``: skimage ``resize(mode='constant')`` to 320x320 (re-stated with scipy's
  ``gaussian_filter`` + ``zoom(grid_mode=True)``, which is what skimage calls; scikit-image itself is
  not installed), divide by the max, ImageNet normalisation, d1, ``normPRED``, PIL bilinear back.
- DIS ``IS-Net/Inference.py``: bilinear to 1024 on 0..255, ``.type(torch.uint8)``, /255, -0.5,
  sigmoid map bilinear back, min-max stretch.
- anime-segmentation ``inference.py get_mask``: /255, letterbox with ``int()`` sides and
  ``cv2.resize``, sigmoid, crop, ``cv2.resize`` back.
- MODNet ``demo/image_matting/colab/inference.py``: the ref-size rule, ``area`` resizes, (x-0.5)/0.5.
- LaMa ``bin/predict.py``: symmetric padding to a multiple of 8, mask > 0, composite, unpad,
  ``np.clip(x * 255, 0, 255).astype('uint8')``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage
from tiny_models import write_big_lama, write_isnet_anime, write_isnet_general, write_modnet, write_u2net

from models.isnet import ISNetMatter
from models.lama import LamaInpainter
from models.modnet import IBNorm, MODNetMatter
from models.u2net import U2NetMatter, skimage_resize

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _image(h: int, w: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.random((h // 6 + 2, w // 6 + 2, 3)).astype(np.float32) * 255
    img = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
    img[h // 4 : 3 * h // 4, w // 3 : 2 * w // 3] = (230, 120, 90)
    return np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)


# -- U^2-Net ----------------------------------------------------------------------------------------------


def ref_skimage_resize(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """skimage.transform.resize(img, shape, mode='constant') for a float image, order 1, default
    anti-aliasing (on when any axis shrinks), through the scipy calls skimage makes."""
    out_shape = (*shape, img.shape[2])
    factors = np.divide(img.shape, out_shape)
    filtered = img
    if any(o < i for o, i in zip(out_shape, img.shape, strict=True)):
        sigma = np.maximum(0, (factors - 1) / 2)
        filtered = ndimage.gaussian_filter(img, sigma, cval=0, mode="constant")
    out = ndimage.zoom(filtered, 1 / factors, order=1, mode="grid-constant", cval=0, grid_mode=True)
    return np.clip(out, min(img.min(), 0), img.max())


@pytest.mark.parametrize("shape", [(50, 80), (400, 700), (300, 200)])
def test_skimage_resize_restatement(shape: tuple[int, int]) -> None:
    img = _image(*shape).astype(np.float64) / 255
    ours, ref = skimage_resize(img, (320, 320)), ref_skimage_resize(img, (320, 320))
    assert ours.shape == ref.shape == (320, 320, 3)
    assert np.abs(ours - ref).max() < 1e-9
    if shape == (50, 80):  # enlarging 6x: the outermost half pixel blends with zero, as skimage does
        assert ours[0].mean() < 0.95 * ours[1].mean()


def ref_u2net(net: torch.nn.Module, img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """u2net_test.py on one image: the float map PIL resizes, and the 8-bit PNG the script writes."""
    im = ref_skimage_resize(img.astype(np.float64) / 255, (320, 320))  # io.imread -> RescaleT(320)
    im = im / np.max(im)
    tmp = np.zeros((320, 320, 3))
    for c, (m, s) in enumerate(zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), strict=True)):
        tmp[:, :, c] = (im[:, :, c] - m) / s
    x = torch.from_numpy(tmp.transpose((2, 0, 1)))[None].float()  # .type(torch.FloatTensor)
    d1 = torch.sigmoid(net(x))[:, 0]
    pred = ((d1 - d1.min()) / (d1.max() - d1.min())).squeeze().numpy()
    size = (img.shape[1], img.shape[0])
    as_float = np.asarray(Image.fromarray(pred.astype(np.float32), mode="F").resize(size, resample=Image.Resampling.BILINEAR))
    png = np.asarray(Image.fromarray(pred * 255).convert("RGB").resize(size, resample=Image.Resampling.BILINEAR))[:, :, 0]
    return as_float, png


@pytest.mark.parametrize("shape", [(180, 320), (420, 746)], ids=["enlarge-16x9", "shrink-16x9"])
def test_u2net_matches_official(tmp_path: Path, shape: tuple[int, int]) -> None:
    matter = U2NetMatter(write_u2net(tmp_path / "u2net.pth"))
    matter.load("cpu")
    img = _image(*shape)
    with torch.inference_mode():
        ours = matter._infer(img)
        ref, png = ref_u2net(matter.net, img)  # type: ignore[arg-type]
    assert ours.shape == shape and ours.min() >= 0 and ours.max() <= 1
    assert np.abs(ours - ref).max() < 2e-3  # PIL resamples with 8-bit fixed-point weights
    # The deliberate deviation: we keep the float map where the official script writes 8 bits.
    assert np.abs(ours * 255 - png.astype(np.float64)).max() < 2.0


# -- IS-Net -----------------------------------------------------------------------------------------------


def ref_dis(net: torch.nn.Module, im: np.ndarray, size: int) -> np.ndarray:
    im_tensor = torch.tensor(im, dtype=torch.float32).permute(2, 0, 1)
    im_tensor = F.interpolate(torch.unsqueeze(im_tensor, 0), [size, size], mode="bilinear").type(torch.uint8)
    image = torch.divide(im_tensor, 255.0) - 0.5  # normalize(mean 0.5, std 1.0)
    result = torch.sigmoid(net(image))  # the official network returns sigmoid(d1) first
    result = torch.squeeze(F.interpolate(result, im.shape[:2], mode="bilinear"), 0)
    result = (result - result.min()) / (result.max() - result.min())
    return result[0].numpy()


def ref_anime(net: torch.nn.Module, input_img: np.ndarray, s: int) -> np.ndarray:
    input_img = (input_img / 255).astype(np.float32)
    h, w = h0, w0 = input_img.shape[:-1]
    h, w = (s, int(s * w / h)) if h > w else (int(s * h / w), s)
    ph, pw = s - h, s - w
    img_input = np.zeros([s, s, 3], dtype=np.float32)
    img_input[ph // 2 : ph // 2 + h, pw // 2 : pw // 2 + w] = cv2.resize(input_img, (w, h))
    x = torch.from_numpy(np.transpose(img_input, (2, 0, 1))[np.newaxis, :])
    pred = np.transpose(torch.sigmoid(net(x)).numpy()[0], (1, 2, 0))
    pred = pred[ph // 2 : ph // 2 + h, pw // 2 : pw // 2 + w]
    return cv2.resize(pred, (w0, h0))


def test_isnet_dis_matches_official(tmp_path: Path) -> None:
    matter = ISNetMatter(write_isnet_general(tmp_path / "isnet-general-use.pth"), size=128)
    matter.load("cpu")
    img = _image(90, 160)  # 16:9, enlarged to the square input
    with torch.inference_mode():
        ours = matter._infer(img)
        ref = ref_dis(matter.net, img, 128)  # type: ignore[arg-type]
    assert ours.min() == 0 and ours.max() == pytest.approx(1.0)
    assert np.abs(ours - ref).max() < 1e-5


@pytest.mark.parametrize("shape", [(97, 160), (160, 97)])
def test_isnet_anime_matches_official(tmp_path: Path, shape: tuple[int, int]) -> None:
    # 64 * 97 / 160 = 38.8: the official int() letterbox is 38 rows, round() would give 39.
    matter = ISNetMatter(write_isnet_anime(tmp_path / "isnetis.ckpt"), size=64)
    matter.load("cpu")
    img = _image(*shape)
    with torch.inference_mode():
        ours = matter._infer(img)
        ref = ref_anime(matter.net, img, 64)  # type: ignore[arg-type]
    assert np.abs(ours - ref).max() < 1e-5


# -- MODNet -----------------------------------------------------------------------------------------------


def ref_modnet(net: torch.nn.Module, im: np.ndarray, ref_size: int) -> np.ndarray:
    x = (torch.from_numpy(im).permute(2, 0, 1)[None].float() / 255 - 0.5) / 0.5
    _, _, im_h, im_w = x.shape
    if max(im_h, im_w) < ref_size or min(im_h, im_w) > ref_size:
        if im_w >= im_h:
            im_rh, im_rw = ref_size, int(im_w / im_h * ref_size)
        else:
            im_rw, im_rh = ref_size, int(im_h / im_w * ref_size)
    else:
        im_rh, im_rw = im_h, im_w
    im_rw, im_rh = im_rw - im_rw % 32, im_rh - im_rh % 32
    x = F.interpolate(x, size=(im_rh, im_rw), mode="area")
    matte = F.interpolate(net(x), size=(im_h, im_w), mode="area")
    return matte[0, 0].numpy()


@pytest.mark.parametrize("shape", [(90, 160), (300, 500)], ids=["enlarge-16x9", "shrink"])
def test_modnet_matches_official(tmp_path: Path, shape: tuple[int, int]) -> None:
    matter = MODNetMatter(write_modnet(tmp_path / "modnet.ckpt"), ref_size=128)
    matter.load("cpu")
    img = _image(*shape)
    with torch.inference_mode():
        ours, ref = matter._infer(img), ref_modnet(matter.net, img, 128)  # type: ignore[arg-type]
    assert np.abs(ours - ref).max() < 1e-5


def test_ibnorm_matches_official_slicing_for_even_widths_and_keeps_odd_ones() -> None:
    torch.manual_seed(0)
    for c in (6, 7):
        norm = IBNorm(c).eval()
        x = torch.randn(2, c, 5, 5)
        out = norm(x)
        assert out.shape == x.shape
        half = c // 2
        assert torch.allclose(out[:, :half], norm.bnorm(x[:, :half]))
        assert torch.allclose(out[:, half:], F.instance_norm(x[:, half:]), atol=1e-5)
        if c % 2 == 0:  # the official x[:, inorm_channels:] is the same slice
            assert torch.allclose(out[:, half:], norm.inorm(x[:, c - half :]), atol=1e-6)


# -- LaMa -------------------------------------------------------------------------------------------------


def test_lama_matches_official_predict(tmp_path: Path) -> None:
    inp = LamaInpainter(write_big_lama(tmp_path / "big-lama.pt"))
    inp.load("cpu")
    img = _image(45, 80)  # needs padding to 48x80
    hole = np.zeros((45, 80), bool)
    hole[10:30, 20:50] = True
    with torch.inference_mode():
        ours = inp._fill(img, hole)
        x = np.pad(img.transpose(2, 0, 1).astype("float32") / 255, ((0, 0), (0, 3), (0, 0)), mode="symmetric")
        m = np.pad(hole[None].astype("float32"), ((0, 0), (0, 3), (0, 0)), mode="symmetric")
        out = inp.net(torch.from_numpy(x)[None], (torch.from_numpy(m)[None] > 0) * 1)
        cur = out[0].permute(1, 2, 0).numpy()[:45, :80]
        ref = np.clip(cur * 255, 0, 255).astype("uint8")
    assert np.array_equal(ours, ref)
