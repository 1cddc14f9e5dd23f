"""XMem's memories for one propagation pass: working, long-term (official schedule), plus permanent.

Keys are ``(1, CK, N)``, shrinkage ``(1, 1, N)``, selection ``(1, CK, N)``, values
``(num_objects, CV, N)`` where ``N`` counts memory elements (one per 1/16 pixel of a memory frame).
The object set is fixed for a pass (all objects named by the seeds), so unlike the official code
there are no per-object "groups": an object absent from a frame simply has an empty mask there.

The working and long-term memories follow the official ``inference/memory_manager.py`` exactly: the
first (seed) frame of a pass sits at the start of working memory and is never consolidated; when
working memory reaches ``max_work_frames`` frames (the first frame counted) the frames after the
first, except the ``min_work_frames - 1`` newest, are consolidated into ``num_prototypes`` prototypes
chosen by usage (memory potentiation) and appended to long-term memory. Before that, when long-term
memory holds ``max_long_elements - num_prototypes`` or more elements, its least used elements are
dropped the official way (everything at or below the k-th smallest usage goes). Memory per pass is
therefore bounded by ``max_work_frames`` frames plus ``max_long_elements`` elements, whatever the
shot's length.

*Permanent* memory is our addition (XMem++ style): further user-corrected seed frames met during a
pass are kept there at full resolution, never consolidated or evicted, and read together with the
other two. A pass with a single seed never touches it, so it computes what the official code does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def similarity(mk: torch.Tensor, ms: torch.Tensor | None, qk: torch.Tensor, qe: torch.Tensor | None) -> torch.Tensor:
    """Anisotropic negative squared L2 (XMem eq. 3): memory ``(1,CK,N)`` x query ``(1,CK,P)`` -> ``(1,N,P)``."""
    ck = mk.shape[1]
    if qe is not None:
        mkt = mk.transpose(1, 2)
        sim = -(mkt.pow(2) @ qe) + 2 * (mkt @ (qk * qe)) - (qe * qk.pow(2)).sum(1, keepdim=True)
    else:
        sim = -mk.pow(2).sum(1).unsqueeze(2) + 2 * (mk.transpose(1, 2) @ qk)
    if ms is not None:
        sim = sim * ms.transpose(1, 2)
    return sim / math.sqrt(ck)


def topk_softmax(sim: torch.Tensor, top_k: int | None) -> torch.Tensor:
    """Softmax over memory (dim 1), keeping only each query's ``top_k`` best matches."""
    if top_k is None or top_k >= sim.shape[1]:
        return torch.softmax(sim, dim=1)
    values, idx = torch.topk(sim, k=top_k, dim=1)
    return torch.zeros_like(sim).scatter_(1, idx, torch.softmax(values, dim=1))


class KVStore:
    """A growable key/value store with XMem's usage counting (``use / life``)."""

    def __init__(self) -> None:
        self.key: torch.Tensor | None = None
        self.shrinkage: torch.Tensor | None = None
        self.selection: torch.Tensor | None = None
        self.value: torch.Tensor | None = None
        self.use: torch.Tensor | None = None
        self.life: torch.Tensor | None = None

    @property
    def size(self) -> int:
        return 0 if self.key is None else int(self.key.shape[-1])

    def add(self, key: torch.Tensor, shrinkage: torch.Tensor, value: torch.Tensor,
            selection: torch.Tensor | None) -> None:
        n = key.shape[-1]
        use = torch.zeros(n, device=key.device)
        life = torch.full((n,), 1e-7, device=key.device)
        if self.key is None:
            self.key, self.shrinkage, self.value, self.use, self.life = key, shrinkage, value, use, life
            self.selection = selection
            return
        assert self.shrinkage is not None and self.value is not None
        assert self.use is not None and self.life is not None
        self.key = torch.cat([self.key, key], -1)
        self.shrinkage = torch.cat([self.shrinkage, shrinkage], -1)
        self.value = torch.cat([self.value, value], -1)
        self.use = torch.cat([self.use, use])
        self.life = torch.cat([self.life, life])
        if self.selection is not None and selection is not None:
            self.selection = torch.cat([self.selection, selection], -1)
        else:
            self.selection = None

    def update_usage(self, usage: torch.Tensor) -> None:
        if self.use is None or self.life is None:
            return
        self.use += usage
        self.life += 1

    def usage(self) -> torch.Tensor:
        assert self.use is not None and self.life is not None
        return self.use / self.life

    def keep(self, index: torch.Tensor | slice) -> None:
        """Keep only the elements at ``index`` (a slice or index tensor over N)."""
        assert self.key is not None and self.shrinkage is not None and self.value is not None
        assert self.use is not None and self.life is not None
        self.key = self.key[..., index]
        self.shrinkage = self.shrinkage[..., index]
        self.value = self.value[..., index]
        self.use, self.life = self.use[index], self.life[index]
        if self.selection is not None:
            self.selection = self.selection[..., index]


@dataclass
class MemoryConfig:
    """XMem's long-term memory settings (defaults of the official ``eval.py``)."""

    top_k: int = 30
    min_work_frames: int = 5
    max_work_frames: int = 10
    num_prototypes: int = 128
    max_long_elements: int = 10000


class MemoryManager:
    """Reads and writes the working, long-term and permanent memories of one propagation pass."""

    def __init__(self, config: MemoryConfig) -> None:
        self.config = config
        self.permanent = KVStore()
        self.work = KVStore()
        self.long = KVStore()
        self.hw = 0  # memory elements per frame
        self.consolidations = 0

    def add(self, key: torch.Tensor, shrinkage: torch.Tensor, value: torch.Tensor,
            selection: torch.Tensor | None, permanent: bool = False) -> None:
        """Add one memory frame: key ``(1,CK,h,w)``, value ``(1,N,CV,h,w)``."""
        self.hw = key.shape[-2] * key.shape[-1]
        k, s = key.flatten(2).float(), shrinkage.flatten(2).float()
        v = value[0].flatten(2).float()
        e = None if selection is None else selection.flatten(2).float()
        if permanent:
            self.permanent.add(k, s, v, None)
            return
        self.work.add(k, s, v, e)
        if self.work.size >= self.config.max_work_frames * self.hw:
            limit = self.config.max_long_elements - self.config.num_prototypes
            if self.long.size >= limit:
                self._drop_least_used(limit)
            self._consolidate()

    def read(self, query_key: torch.Tensor, selection: torch.Tensor) -> torch.Tensor:
        """Memory readout for a query frame: ``(1, num_objects, CV, h, w)``."""
        h, w = query_key.shape[-2:]
        qk, qe = query_key.flatten(2).float(), selection.flatten(2).float()
        # Long-term before working memory, as the official concatenation (top-k ties break alike).
        stores = [s for s in (self.long, self.work, self.permanent) if s.size > 0]
        keys = torch.cat([s.key for s in stores if s.key is not None], -1)
        shrink = torch.cat([s.shrinkage for s in stores if s.shrinkage is not None], -1)
        values = torch.cat([s.value for s in stores if s.value is not None], -1)
        affinity = topk_softmax(similarity(keys, shrink, qk, qe), self.config.top_k)
        usage = affinity.sum(2)[0]
        start = 0
        for store in stores:
            if store is not self.permanent:
                store.update_usage(usage[start : start + store.size])
            start += store.size
        readout = values @ affinity[0]  # (num_objects, CV, P)
        return readout.view(1, values.shape[0], values.shape[1], h, w)

    def _drop_least_used(self, max_size: int) -> None:
        """The official ``remove_obsolete_features``: keep elements used more than the k-th least used."""
        n_drop = self.long.size - max_size
        if n_drop <= 0:
            return  # the official code would fail on an empty top-k here; nothing needs dropping
        usage = self.long.usage()
        threshold = torch.topk(usage, k=n_drop, largest=False, sorted=True).values[-1]
        self.long.keep(torch.nonzero(usage > threshold).flatten())

    def _consolidate(self) -> None:
        cfg, work, hw = self.config, self.work, self.hw
        assert work.key is not None and work.shrinkage is not None and work.value is not None
        # Candidates: every frame after the first, except the newest min_work_frames - 1.
        end = work.size - cfg.min_work_frames * hw + hw
        if end <= hw:
            return
        cand_key, cand_shrink = work.key[..., hw:end], work.shrinkage[..., hw:end]
        cand_value = work.value[..., hw:end]
        cand_sel = None if work.selection is None else work.selection[..., hw:end]
        # Prototypes: the most used candidates; potentiation: each prototype reads out a value
        # (and shrinkage) from all candidates, so consolidated memory keeps their information.
        k = min(cfg.num_prototypes, end - hw)
        idx = torch.topk(work.usage()[hw:end], k=k, sorted=True).indices
        proto_key = cand_key[..., idx]
        proto_sel = None if cand_sel is None else cand_sel[..., idx]
        aff = topk_softmax(similarity(cand_key, cand_shrink, proto_key, proto_sel), None)[0]
        proto_value = cand_value @ aff
        proto_shrink = cand_shrink @ aff
        keep = torch.cat([torch.arange(hw), torch.arange(end, work.size)]).to(work.key.device)
        work.keep(keep)
        self.long.add(proto_key, proto_shrink, proto_value, None)
        self.consolidations += 1
