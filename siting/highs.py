"""HiGHS through highspy, without its banner on the user's terminal.

highspy 1.16 prints a copyright banner to the C-level stdout when the first
``Highs`` object of a process is constructed, before any option can silence it.
:func:`new_highs` is the one place siting makes a solver: the first construction
runs with file descriptors 1 and 2 pointed at ``/dev/null``; later ones print
nothing anyway (the banner is once per process).
"""
from __future__ import annotations

import os
import sys
import threading

import highspy

_lock = threading.Lock()
_banner_shown = False


def new_highs() -> highspy.Highs:
    """A ``highspy.Highs`` with console output off, its banner swallowed."""
    global _banner_shown
    with _lock:
        if _banner_shown:
            h = highspy.Highs()
        else:
            h = _silently(highspy.Highs)
            _banner_shown = True
    h.setOptionValue("output_flag", False)
    return h


def _silently(make):
    """Call ``make()`` with the process's stdout and stderr sent to ``/dev/null``."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError):
            pass
    saved = [os.dup(fd) for fd in (1, 2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        return make()
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)
