"""XMem's three memories for one shot: permanent (seeds), working, long-term, plus consolidation.

Keys are ``(1, CK, N)``, shrinkage ``(1, 1, N)``, selection ``(1, CK, N)``, values
``(num_objects, CV, N)`` where ``N`` counts memory elements (one per 1/16 pixel of a memory frame).
The object set is fixed for a pass (all objects named by the seeds), so unlike the official code
there are no per-object "groups": an object absent from a frame simply has an empty mask there.

User-corrected seed frames go to *permanent* memory, which is never consolidated or evicted
(the trusted frames must keep their full resolution). Propagated memory frames go to *working*
memory; when it exceeds ``max_work_frames`` the oldest frames beyond ``min_work_frames`` are
consolidated into ``num_prototypes`` prototypes chosen by usage (XMem's Atkinson-Shiffrin
consolidation with memory potentiation) and appended to *long-term* memory, whose least-used
elements are evicted to stay under ``max_long_elements``.
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
    """XMem's long-term memory settings (defaults of the official evaluation)."""

    top_k: int = 30
    min_work_frames: int = 5
    max_work_frames: int = 10
    num_prototypes: int = 128
    max_long_elements: int = 10000


class MemoryManager:
    """Reads and writes the permanent, working and long-term memories of one propagation pass."""

    def __init__(self, config: MemoryConfig) -> None:
        self.config = config
        self.permanent = KVStore()
        self.work = KVStore()
        self.long = KVStore()
        self.hw = 0  # memory elements per frame
        self.consolidations = 0

    def add(self, key: torch.Tensor, shrinkage: torch.Tensor, value: torch.Tensor,
            selection: torch.Tensor | None, permanent: bool) -> None:
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
            self._consolidate()

    def read(self, query_key: torch.Tensor, selection: torch.Tensor) -> torch.Tensor:
        """Memory readout for a query frame: ``(1, num_objects, CV, h, w)``."""
        h, w = query_key.shape[-2:]
        qk, qe = query_key.flatten(2).float(), selection.flatten(2).float()
        stores = [s for s in (self.permanent, self.long, self.work) if s.size > 0]
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

    def _consolidate(self) -> None:
        cfg, work = self.config, self.work
        assert work.key is not None and work.shrinkage is not None and work.value is not None
        n_candidates = work.size - cfg.min_work_frames * self.hw
        if n_candidates <= 0:
            return
        cand_key, cand_shrink = work.key[..., :n_candidates], work.shrinkage[..., :n_candidates]
        cand_value = work.value[..., :n_candidates]
        cand_sel = None if work.selection is None else work.selection[..., :n_candidates]
        # Prototypes: the most used candidates; potentiation: each prototype reads out a value
        # (and shrinkage) from all candidates, so consolidated memory keeps their information.
        k = min(cfg.num_prototypes, n_candidates)
        idx = torch.topk(work.usage()[:n_candidates], k=k, sorted=True).indices
        proto_key = cand_key[..., idx]
        proto_sel = None if cand_sel is None else cand_sel[..., idx]
        aff = topk_softmax(similarity(cand_key, cand_shrink, proto_key, proto_sel), None)[0]
        proto_value = cand_value @ aff
        proto_shrink = cand_shrink @ aff
        work.keep(slice(n_candidates, None))
        limit = cfg.max_long_elements - k
        if self.long.size > limit:
            keep = torch.topk(self.long.usage(), k=max(limit, 0), sorted=False).indices.sort().values
            self.long.keep(keep)
        self.long.add(proto_key, proto_shrink, proto_value, None)
        self.consolidations += 1
