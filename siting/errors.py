"""Errors that reach the user.

A :class:`SitingError` is a problem with the user's input or request, not a bug:
the CLI prints its message as one line on stderr and exits with status 2.
Every message says what is wrong *and* what to do about it.
"""
from __future__ import annotations


class SitingError(Exception):
    """A user error: bad input, an impossible request, missing data.

    The message is one line: what is wrong, then what to do.
    """

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class InputError(SitingError):
    """An input file is missing, unreadable, empty, corrupt or of the wrong kind."""


class ConfigError(SitingError):
    """A parameter or YAML configuration is invalid."""


class PlanError(SitingError):
    """A planning request cannot be met (count too small or too large, no candidates, ...)."""


class ResourceError(SitingError):
    """The request would exceed a configured resource budget (memory, time)."""
