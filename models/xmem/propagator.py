"""`XMemPropagator`: the "propagator" backend running XMem over one shot.

Each propagation pass has its own memory (nothing crosses a shot, nothing crosses passes). A forward
pass starts at the first seed, a backward pass at the last seed. Preprocessing, padding, the memory
schedule and the output resize are those of the official ``eval.py`` / ``InferenceCore`` (see
docs/models.md), so a single-seed forward pass computes what the official code computes; every
further seed met on the way is written to permanent memory (our addition) and returned unchanged. With ``direction="both"`` the two passes are merged per
pixel, each weighted by its confidence and by how close the frame is to the seed the pass started
from (the nearer trusted frame usually wins).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from models.base import Direction, Image, Labels, Propagation, Role
from models.errors import ModelUnavailable


class XMemPropagator:
    """Propagate seed label maps through a shot with XMem.

    Parameters
    ----------
    weights
        ``XMem.pth`` (or ``.safetensors`` with the same keys).
    **options
        ``size`` (short side the network sees, default 480, shrinking or enlarging like the official
        reader; 0 keeps the frame size), ``antialias`` (True), ``mem_every``
        (5), ``top_k`` (30), ``min_work_frames`` (5), ``max_work_frames`` (10), ``num_prototypes``
        (128), ``max_long_elements`` (10000).
    """

    name: ClassVar[str] = "xmem"
    role: ClassVar[Role] = "propagator"

    def __init__(self, weights: Path | None = None, **options: Any) -> None:
        self.weights = weights
        self.options = options
        self.size = int(options.get("size", 480))
        self.mem_every = max(1, int(options.get("mem_every", 5)))
        # torchvision's tensor Resize antialiases by default since 0.17; False matches older ones.
        self.antialias = bool(options.get("antialias", True))
        self.net: Any = None
        self.device = "cpu"
        self.last_stats: dict[str, int] = {}

    def load(self, device: str = "cpu") -> None:
        if self.weights is None:
            raise ModelUnavailable("XMem needs its weights file (XMem.pth); none is configured.")
        from models.checkpoints import load_checkpoint, load_into
        from models.xmem.network import XMemNetwork

        state = load_checkpoint(self.weights)
        if "key_proj.key_proj.weight" not in state:
            raise ModelUnavailable(f"{Path(self.weights).name} is not an XMem checkpoint.")
        net = XMemNetwork.from_state_dict(state)
        load_into(net, state, "XMem")
        self.net = net.eval().to(device)
        self.device = device

    def release(self) -> None:
        self.net = None

    # ------------------------------------------------------------------ helpers
    def _memory_config(self) -> Any:
        from models.xmem.memory import MemoryConfig

        keys = ("top_k", "min_work_frames", "max_work_frames", "num_prototypes", "max_long_elements")
        return MemoryConfig(**{k: int(self.options[k]) for k in keys if k in self.options})

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        import torch

        if not self.device.startswith("cuda"):
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)

    def _work_size(self, h: int, w: int) -> tuple[int, int]:
        """The official reader's ``transforms.Resize(size)``: short side to ``size``, long side truncated."""
        if self.size <= 0 or min(h, w) == self.size:
            return h, w
        if h <= w:
            return self.size, int(self.size * w / h)
        return int(self.size * h / w), self.size

    def _image(self, frame: Image, size: tuple[int, int]) -> tuple[Any, tuple[int, int, int, int]]:
        """ImageNet-normalised, resized (antialiased both ways, as torchvision's tensor ``Resize``),
        zero-padded evenly to a multiple of 16; returns the image and its padding."""
        import torch
        import torch.nn.functional as F

        from models.torch_utils import IMAGENET_MEAN, IMAGENET_STD

        # Frames are shared read-only arrays (one cache per project); torch wants memory it may write.
        x = torch.from_numpy(np.array(frame)).to(self.device).permute(2, 0, 1)[None].float() / 255
        mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
        x = (x - mean) / std
        if x.shape[-2:] != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=self.antialias)
        return pad_divide_by(x, 16)

    def _masks(self, labels: Labels, ids: list[int], size: tuple[int, int]) -> Any:
        """One-hot seed masks resized nearest (the official ``resize_mask``), padded, soft-aggregated."""
        import torch
        import torch.nn.functional as F

        from models.xmem.modules import aggregate

        lab = torch.from_numpy(labels.astype(np.int64)).to(self.device)
        m = torch.stack([(lab == i).float() for i in ids])[None]
        if m.shape[-2:] != size:
            m = F.interpolate(m, size=size, mode="nearest")
        m, _ = pad_divide_by(m, 16)
        return aggregate(m[0], dim=0)[1:][None]

    # ------------------------------------------------------------------ passes
    def _run(self, frames: Sequence[Image], order: list[int], seeds: dict[int, Labels],
             ids: list[int]) -> Iterator[tuple[int, Any]]:
        """Yield ``(frame index, probabilities (N+1, H, W) on CPU)`` for non-seed frames of one pass.

        The order of operations is the official ``InferenceCore.step`` with ``deep_update_every=-1``:
        a memory frame every ``mem_every`` frames (not on the last frame), a deep update of the
        hidden state on memory frames, the normal hidden update on the others. The first frame of
        ``order`` must be a seed; later seeds go to permanent memory (our addition).
        """
        import torch
        import torch.nn.functional as F

        from models.xmem.memory import MemoryManager

        net = self.net
        memory = MemoryManager(self._memory_config())
        hidden: Any = None
        since_mem = 0
        for i, t in enumerate(order):
            frame = frames[t]
            h0, w0 = frame.shape[:2]
            size = self._work_size(h0, w0)
            image, pad = self._image(frame, size)
            key, shrink, sel, feats = net.encode_key(image)
            if t in seeds:
                if hidden is None:
                    hidden = torch.zeros(1, len(ids), net.hidden_dim, *key.shape[-2:], device=self.device)
                masks = self._masks(seeds[t], ids, size)
                value, hidden = net.encode_value(image, feats[0], hidden, masks, deep_update=True)
                memory.add(key, shrink, value, sel, permanent=i > 0)
                since_mem = 0
                continue
            since_mem += 1
            is_mem = since_mem >= self.mem_every and i < len(order) - 1
            readout = memory.read(key, sel).to(feats[0].dtype)
            new_hidden, prob = net.segment(feats, readout, hidden, h_out=not is_mem)
            if is_mem:
                value, hidden = net.encode_value(image, feats[0], hidden, prob[:, 1:], deep_update=True)
                memory.add(key, shrink, value, sel)
                since_mem = 0
            elif new_hidden is not None:
                hidden = new_hidden
            prob = unpad(prob, pad).float()
            if prob.shape[-2:] != (h0, w0):
                prob = F.interpolate(prob, size=(h0, w0), mode="bilinear", align_corners=False)
            self.last_stats = {
                "consolidations": memory.consolidations,
                "long_term_elements": memory.long.size,
                "working_elements": memory.work.size,
                "permanent_elements": memory.permanent.size,
            }
            yield t, prob[0].cpu()

    def stream(self, frames: Sequence[Image], seed: int, labels: Labels) -> Iterator[tuple[int, Propagation]]:
        """Forward propagation from one seed, one frame at a time: ``(index, result)`` for every frame
        after ``seed``. Nothing is kept between frames but XMem's bounded memory, so a caller that
        stores each result as it comes (the project store does) runs any shot length in flat memory.
        """
        if self.net is None:
            raise ModelUnavailable("XMem is not loaded.")
        import torch

        ids = sorted(int(v) for v in np.unique(labels) if v != 0)
        if not ids:
            return
        lut = np.array([0, *ids], dtype=np.uint8)
        with torch.inference_mode(), self._autocast():
            for t, prob in self._run(frames, list(range(seed, len(frames))), {seed: labels}, ids):
                conf, arg = prob.max(0)
                yield t, Propagation(labels=lut[arg.numpy()], confidence=conf.numpy().astype(np.float32))

    def propagate(self, frames: Sequence[Image], seeds: dict[int, Labels],
                  direction: Direction = "both") -> list[Propagation]:
        """Propagate ``seeds`` (frame index -> trusted labels) through ``frames``; one result per frame."""
        if self.net is None:
            raise ModelUnavailable("XMem is not loaded.")
        import torch

        n = len(frames)
        ids = sorted({int(v) for lab in seeds.values() for v in np.unique(lab) if v != 0})
        out: list[Propagation | None] = [None] * n
        for t, lab in seeds.items():
            out[t] = Propagation(labels=lab.astype(np.uint8).copy(), confidence=np.ones(lab.shape, np.float32))
        if seeds and ids:
            lut = np.array([0, *ids], dtype=np.uint8)
            first, last = min(seeds), max(seeds)
            fwd: dict[int, tuple[Labels, np.ndarray]] = {}
            with torch.inference_mode(), self._autocast():
                if direction in ("forward", "both"):
                    for t, prob in self._run(frames, list(range(first, n)), seeds, ids):
                        conf, arg = prob.max(0)
                        fwd[t] = (lut[arg.numpy()], conf.numpy().astype(np.float32))
                if direction in ("backward", "both"):
                    for t, prob in self._run(frames, list(range(last, -1, -1)), seeds, ids):
                        conf_t, arg_t = prob.max(0)
                        lab_b, conf_b = lut[arg_t.numpy()], conf_t.numpy().astype(np.float32)
                        if t in fwd:
                            lab_b, conf_b = _merge(fwd.pop(t), (lab_b, conf_b), t, seeds)
                        out[t] = Propagation(labels=lab_b, confidence=conf_b)
            for t, (lab_f, conf_f) in fwd.items():
                out[t] = Propagation(labels=lab_f, confidence=conf_f)
        for t in range(n):
            if out[t] is None:
                h, w = frames[t].shape[:2]
                out[t] = Propagation(labels=np.zeros((h, w), np.uint8), confidence=np.zeros((h, w), np.float32))
        return [p for p in out if p is not None]


def pad_divide_by(x: Any, d: int) -> tuple[Any, tuple[int, int, int, int]]:
    """Zero-pad the last two axes to multiples of ``d``, split evenly (the extra pixel at the
    bottom/right), as the official ``util/tensor_util.py``; returns ``(left, right, top, bottom)``."""
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    ph, pw = (-h) % d, (-w) % d
    pad = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
    return (F.pad(x, pad) if ph or pw else x), pad


def unpad(x: Any, pad: tuple[int, int, int, int]) -> Any:
    """Undo `pad_divide_by` on a tensor whose last two axes are padded."""
    left, right, top, bottom = pad
    h, w = x.shape[-2:]
    return x[..., top : h - bottom, left : w - right]


def _merge(fwd: tuple[Labels, np.ndarray], bwd: tuple[Labels, np.ndarray], t: int,
           seeds: dict[int, Labels]) -> tuple[Labels, np.ndarray]:
    """Per pixel, keep the pass whose confidence, weighted by nearness to its last seed, is higher."""
    prev_seed = max(s for s in seeds if s < t)
    next_seed = min(s for s in seeds if s > t)
    wf, wb = 1.0 / (t - prev_seed), 1.0 / (next_seed - t)
    take_f = fwd[1] * wf >= bwd[1] * wb
    return np.where(take_f, fwd[0], bwd[0]).astype(np.uint8), np.where(take_f, fwd[1], bwd[1]).astype(np.float32)
