"""Everything that reads or writes files lives in this package."""
from __future__ import annotations


def one_line(exc: BaseException, limit: int = 160) -> str:
    """An exception's text on one line, at most ``limit`` characters, for an error message."""
    return " ".join(str(exc).split())[:limit] or type(exc).__name__
