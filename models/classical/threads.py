"""Work spread over a thread pool that a caller can stop between two results."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import TypeVar

T = TypeVar("T")


def results_in_order(futures: Sequence[Future[T]], tick: Callable[[], None] | None = None) -> list[T]:
    """The results of ``futures`` in their order, ``tick`` called after each. Whatever is raised (a
    failed item, or the tick's: the pipeline's cancel) cancels the futures not yet started, so a stop
    does not wait for the rest of a long shot."""
    out: list[T] = []
    try:
        for future in futures:
            out.append(future.result())
            if tick is not None:
                tick()
    finally:
        for future in futures:
            future.cancel()
    return out
