"""Words for people: counts with the right plural."""
from __future__ import annotations


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``"1 gap area"``, ``"3 gap areas"``, ``"1,200 sites"``: the count with its noun."""
    return f"{n:,} {noun if n == 1 else (nouns or noun + 's')}"
