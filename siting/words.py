"""Words for people: counts with the right plural."""
from __future__ import annotations


def counted(n: float, noun: str, plural: str | None = None) -> str:
    """``n`` and its noun in the right number: ``1 gap area``, ``2 gap areas``, ``1,200 people``."""
    word = noun if n == 1 else (plural or f"{noun}s")
    return f"{n:,.0f} {word}" if float(n).is_integer() else f"{n:,} {word}"
