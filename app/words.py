"""How counts read in messages: "1 shot", "2 shots" (the CLI and the app say it the same way), and the
status line's sentences that the app and its tests share."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and the noun, singular for exactly one: ``counted(1, "shot")`` is "1 shot"."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def history_cleared(shots: list[int]) -> str:
    """What the status line says when a re-run retired undo history (`app.store.retire`); ``shots``
    are the shots' numbers as the app shows them (from 1)."""
    names = [str(n) for n in sorted(shots)]
    which = (f"shot {names[0]}" if len(names) == 1
             else f"shots {', '.join(names[:-1])} and {names[-1]}")
    return f"Undo history before the re-run of {which} was cleared: the re-run replaced those frames."
