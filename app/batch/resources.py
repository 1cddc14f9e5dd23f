"""What each group of stages asks Ray for, and how many worker actors each pool gets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.pipeline.graph import ROLE_OF_STAGE, STAGES
from models.registry import weight_free

MiB = 1024 * 1024


@dataclass(frozen=True)
class Profile:
    """What one worker actor of a stage group declares to Ray."""

    name: str  # "cpu" (weight-free backends) or "gpu" (deep backends)
    num_cpus: float
    num_gpus: float
    memory: int  # bytes

    def options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus}
        if self.memory:
            opts["memory"] = self.memory
        return opts


def stage_groups(stages: list[str], backends: dict[str, str], *, cpus: float = 1, cluster_gpus: float = 0,
                 cpu_memory: int = 512 * MiB, gpu_memory: int = 4096 * MiB) -> list[tuple[Profile, list[str]]]:
    """Consecutive stages whose backends need the same resources, in pipeline order."""
    cpu = Profile("cpu", cpus, 0, cpu_memory)
    gpu = Profile("gpu", cpus, 1 if cluster_gpus >= 1 else 0, gpu_memory)
    groups: list[tuple[Profile, list[str]]] = []
    for stage in [s for s in STAGES if s in stages]:
        role = ROLE_OF_STAGE[stage]
        profile = cpu if weight_free(role, backends.get(role, "classical")) else gpu
        if groups and groups[-1][0] == profile:
            groups[-1][1].append(stage)
        else:
            groups.append((profile, [stage]))
    return groups


def pool_sizes(resources: dict[str, float], groups: list[tuple[Profile, list[str]]],
               workers: int | None = None) -> dict[str, tuple[Profile, int]]:
    """Worker actors per pool: ``workers`` each if given, else as many as the cluster's CPUs/GPUs hold."""
    cpus, gpus = float(resources.get("CPU", 1)), float(resources.get("GPU", 0))
    pools: dict[str, tuple[Profile, int]] = {}
    for profile, _ in groups:
        if profile.name in pools:
            continue
        if workers is not None:
            n = workers
        elif profile.num_gpus:
            n = int(gpus // profile.num_gpus)
        else:
            n = int(cpus // max(profile.num_cpus, 0.01))
        pools[profile.name] = (profile, max(1, n))
    if workers is None and "cpu" in pools and "gpu" in pools:
        # GPU workers hold CPUs too; the weight-free pool gets what is left.
        cpu_profile, n = pools["cpu"]
        gpu_profile, g = pools["gpu"]
        pools["cpu"] = (cpu_profile, max(1, n - int(g * gpu_profile.num_cpus)))
    return pools
