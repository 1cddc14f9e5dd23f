"""How counts read in messages: "1 shot", "2 shots" (the CLI and the app say it the same way), and the
status line's sentences that the app and its tests share."""

from __future__ import annotations

from app.errors import InputError


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


def shot_indices(numbers: list[int], count: int, option: str = "--shots") -> list[int]:
    """Shot numbers as users write them (from 1, as the app, the timeline and every notice number
    shots) -> the shots' indices. Commands took indices from 0 until round 12; a 0 is refused with a
    sentence that says so (a script written then would otherwise run the shot after the one it meant),
    as is a number past the last shot."""
    if any(n == 0 for n in numbers):
        raise InputError(f"{option}: shots are numbered from 1, as the app shows them (shot 1 is the first); "
                         "0 is not a shot. Scripts written when commands counted shots from 0 need each number plus 1.")
    bad = [n for n in numbers if not 1 <= n <= count]
    if bad:
        raise InputError(f"{option}: there is no shot {bad[0]}; this project's shots are 1..{count}.")
    return [n - 1 for n in numbers]


def numbers(text: str, option: str) -> list[int]:
    """``"1,3, 4"`` -> [1, 3, 4]; anything else is refused naming ``option``."""
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{option} takes comma-separated whole numbers, not {text!r}.") from None
