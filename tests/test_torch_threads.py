"""The one place thread counts are chosen: interactive work on few threads, restored afterwards."""

from __future__ import annotations

import torch

from models.torch_utils import cpu_threads, torch_threads, usable_cores


def test_interactive_work_runs_on_few_threads_and_the_count_is_restored() -> None:
    assert 1 <= cpu_threads("interactive") <= 2
    assert cpu_threads("batch") == usable_cores() >= cpu_threads("interactive")
    before = torch.get_num_threads()
    with torch_threads("interactive"):
        assert torch.get_num_threads() == cpu_threads("interactive")
    assert torch.get_num_threads() == before
    try:
        with torch_threads("batch"):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert torch.get_num_threads() == before
