"""LaMa: big-lama checkpoint layouts (Lightning ckpt, safetensors, TorchScript) load and inpaint."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from models.lama import LamaInpainter, convert
from models.lama_network import build_random

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@dataclass
class TrainingConfig:
    """Stands in for the OmegaConf config that best.ckpt pickles next to the weights."""

    name: str = "big-lama"
    extra: dict[str, int] = field(default_factory=lambda: {"n_blocks": 18})


def _tiny() -> torch.nn.Module:
    torch.manual_seed(0)
    net = build_random(ngf=8, n_blocks=2)
    # Non-trivial batch-norm statistics so a wrong key mapping would change the output.
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d) and m.running_mean is not None and m.running_var is not None:
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return net


def _lightning_ckpt(tmp_path: Path, net: torch.nn.Module) -> Path:
    state = {"generator." + k: v for k, v in net.state_dict().items()}
    state["discriminator.model0.0.weight"] = torch.zeros(4, 3, 3, 3)
    path = tmp_path / "best.ckpt"
    torch.save({"epoch": 3, "state_dict": state, "hyper_parameters": {"config": TrainingConfig()}}, path)
    return path


def _frames() -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (36, 44, 3), dtype=np.uint8) for _ in range(2)]
    holes = [np.zeros((36, 44), bool), np.zeros((36, 44), bool)]
    holes[1][10:20, 12:30] = True
    return frames, holes


def _check(inp: LamaInpainter, frames: list[np.ndarray], holes: list[np.ndarray]) -> list[np.ndarray]:
    out = inp.clean_plates(frames, holes)
    assert len(out) == 2 and all(o.shape == (36, 44, 3) and o.dtype == np.uint8 for o in out)
    assert np.array_equal(out[0], frames[0])  # no hole: untouched
    assert np.array_equal(out[1][:6], frames[1][:6]) and np.array_equal(out[1][:, 34:], frames[1][:, 34:])
    assert not np.array_equal(out[1][10:20, 12:30], frames[1][10:20, 12:30])
    return out


def test_lightning_checkpoint_with_config_objects_loads_strictly(tmp_path: Path) -> None:
    net = _tiny()
    inp = LamaInpainter(_lightning_ckpt(tmp_path, net), dilate=2)
    inp.load("cpu")
    frames, holes = _frames()
    out = _check(inp, frames, holes)
    # Same result as the generator run by hand (checks the key mapping and the compositing).
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    hole = cv2.dilate(holes[1].astype(np.uint8), kernel).astype(bool)
    img = np.pad(frames[1], ((0, 4), (0, 4), (0, 0)), mode="symmetric")
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    m = torch.from_numpy(np.pad(hole, ((0, 4), (0, 4)), mode="symmetric")).float()[None, None]
    with torch.no_grad():
        pred = net(torch.cat([x * (1 - m), m], 1))
    ref = (pred[0, :, :36, :44].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()
    assert np.abs(out[1][hole].astype(int) - ref[hole].astype(int)).max() <= 1
    assert np.array_equal(out[1][~hole], frames[1][~hole])


def test_convert_to_safetensors_and_load(tmp_path: Path) -> None:
    net = _tiny()
    dst = tmp_path / "big-lama.safetensors"
    assert convert(_lightning_ckpt(tmp_path, net), dst) == len(net.state_dict())
    inp = LamaInpainter(dst)
    inp.load("cpu")
    frames, holes = _frames()
    _check(inp, frames, holes)


class _Scripted(torch.nn.Module):
    def __init__(self, gen: torch.nn.Module) -> None:
        super().__init__()
        self.generator = gen

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pred = self.generator(torch.cat([image * (1 - mask), mask], 1))
        return mask * pred + (1 - mask) * image


def test_torchscript_export_loads(tmp_path: Path) -> None:
    wrapped = _Scripted(_tiny()).eval()
    example = (torch.rand(1, 3, 40, 48), torch.zeros(1, 1, 40, 48))
    path = tmp_path / "big-lama.pt"
    torch.jit.trace(wrapped, example, check_trace=False).save(str(path))
    inp = LamaInpainter(path)
    inp.load("cpu")
    assert inp.scripted
    frames, holes = _frames()
    _check(inp, frames, holes)




def test_stitch_invents_only_what_no_frame_shows(tmp_path: Path) -> None:
    """With LaMa installed the plate is still stitched from the shot; LaMa fills only the rest."""
    from models.classical.inpaint import INVENTED, SEEN_ELSEWHERE, ClassicalInpainter

    net = _tiny()
    inp = LamaInpainter(_lightning_ckpt(tmp_path, net), dilate=2)
    inp.load("cpu")
    rng = np.random.default_rng(1)
    bg = np.asarray(cv2.GaussianBlur(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8), (0, 0), 1.0), np.uint8)
    frames, holes = [], []
    for i in range(3):  # a static camera, a box moving right: its trail is revealed, its core is not
        f = bg.copy()
        h = np.zeros((40, 48), bool)
        h[12:28, 10 + 3 * i : 26 + 3 * i] = True
        f[h] = (250, 30, 30)
        frames.append(f)
        holes.append(h)
    out = inp.stitch(frames, holes)
    classical = ClassicalInpainter(feather=0).stitch(frames, holes)
    for (plate, conf), (ref, ref_conf) in zip(out, classical, strict=True):
        assert np.array_equal(conf, ref_conf) and (conf == INVENTED).any() and (conf == SEEN_ELSEWHERE).any()
        seen = conf == SEEN_ELSEWHERE
        # Stitched pixels come from the other frames, whoever fills the rest (the seam feather
        # mixes a pixel of the fill into them near invented ones).
        far = seen & (cv2.distanceTransform((conf != INVENTED).astype(np.uint8), cv2.DIST_L2, 3) > 4)
        assert np.array_equal(plate[far], ref[far])
        assert not np.array_equal(plate[conf == INVENTED], ref[conf == INVENTED])
