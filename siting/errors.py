"""Errors that reach the user.

A :class:`SitingError` is a problem with the user's input or request, not a bug:
the CLI prints its message as one line on stderr and exits with status 2.
Every message says what is wrong *and* what to do about it.

A message names a parameter as the library calls it, between backticks
(```count` 5 exceeds the 3 candidate sites``); :meth:`SitingError.worded` names it
as the caller knows it (the CLI: its flags, ``--count``).
"""
from __future__ import annotations

import re
from collections.abc import Mapping

_PARAMETER = re.compile(r"`([A-Za-z_][\w.]*)`")


class SitingError(Exception):
    """A user error: bad input, an impossible request, missing data.

    The message is one line: what is wrong, then what to do.
    """

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))

    def worded(self, names: Mapping[str, str]) -> str:
        """The message with each `` `parameter` `` that ``names`` knows replaced by its name there.

        Parameters
        ----------
        names
            Parameter name (``count``) -> the caller's name for it (``--count``).

        Returns
        -------
        str
            The one-line message; parameters ``names`` does not know keep their backticks.
        """
        return _PARAMETER.sub(lambda m: names.get(m.group(1), m.group(0)), str(self))


class InputError(SitingError):
    """An input file is missing, unreadable, empty, corrupt or of the wrong kind."""


class ConfigError(SitingError):
    """A parameter or YAML configuration is invalid."""


class PlanError(SitingError):
    """A planning request cannot be met (count too small or too large, no candidates, ...)."""


class ResourceError(SitingError):
    """The request would exceed a configured resource budget (memory, time)."""
