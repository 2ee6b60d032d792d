"""HiGHS through highspy: the one model builder, status decoding, and no banner.

:func:`highs_model` writes every LP and MILP siting solves (coverage relaxations and
MILPs, the capacitated assignment and MILP); :func:`mip_outcome` turns a MIP's status into
the label a :class:`~siting.solve.Solution` carries.

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
import numpy as np
from scipy import sparse

from siting.config import SolverParams

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


def highs_model(a: sparse.spmatrix, cost, col_lower, col_upper, row_lower, row_upper, maximize: bool,
                n_integer: int = 0, params: SolverParams | None = None, seed: int = 0) -> highspy.Highs:
    """A quiet, single-threaded HiGHS instance holding ``max|min cost·x`` subject to
    ``row_lower <= A x <= row_upper`` and the column bounds; the first ``n_integer``
    columns are integer. ``params`` sets the MIP limits (time, nodes, relative gap). Returns a
    ``highspy.Highs`` ready to ``run()``."""
    a = sparse.csc_matrix(a)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = a.shape[1], a.shape[0]
    lp.col_cost_ = np.asarray(cost, dtype=np.float64)
    lp.col_lower_ = np.asarray(col_lower, dtype=np.float64)
    lp.col_upper_ = np.asarray(col_upper, dtype=np.float64)
    lp.row_lower_ = np.asarray(row_lower, dtype=np.float64)
    lp.row_upper_ = np.asarray(row_upper, dtype=np.float64)
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr
    lp.a_matrix_.index_ = a.indices
    lp.a_matrix_.value_ = a.data
    if n_integer:
        lp.integrality_ = ([highspy.HighsVarType.kInteger] * n_integer
                           + [highspy.HighsVarType.kContinuous] * (a.shape[1] - n_integer))
    h = new_highs()
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", int(seed) % 2**31)
    if params is not None:
        h.setOptionValue("time_limit", float(params.exact_time_s))
        h.setOptionValue("mip_max_nodes", int(params.exact_max_nodes))
        h.setOptionValue("mip_rel_gap", float(params.mip_rel_gap))
    h.passModel(lp)
    return h


def mip_outcome(h: highspy.Highs) -> tuple[bool, bool, str]:
    """(proven, infeasible, label) of a MIP that has run: ``proven`` when HiGHS closed it
    (optimal, or infeasible: nothing left to decide), the label ``"exact"`` or says which
    limit stopped it."""
    status = h.getModelStatus()
    infeasible = status == highspy.HighsModelStatus.kInfeasible
    proven = infeasible or status == highspy.HighsModelStatus.kOptimal
    timed_out = status == highspy.HighsModelStatus.kTimeLimit
    return proven, infeasible, "exact" if proven else ("exact (time limit)" if timed_out else "exact (node limit)")


def lp_value(h: highspy.Highs) -> float | None:
    """Optimal objective of an LP that has run, ``None`` when HiGHS did not prove it optimal."""
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return float(h.getInfo().objective_function_value)
