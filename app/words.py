"""How counts read in messages: "1 shot", "2 shots" (the CLI and the app say it the same way)."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and the noun, singular for exactly one: ``counted(1, "shot")`` is "1 shot"."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
